"""The worker's settings: erp-core's, the database's, and mail, jobs and probes (contract §2, §14).

Built once by the ``erp-worker`` command (or passed in by a test); a bad
variable anywhere is reported together with all the others, by its
environment name and without its value.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator

from erp_core import CoreSettings, IgnoreServiceLink
from erp_db import DatabaseSettings

TOKEN_PLACEHOLDER = "{token}"  # noqa: S105 (the placeholder's name, not a secret)


class WorkerSettings(CoreSettings):
    """Everything ``erp-worker`` reads from its environment."""

    database: DatabaseSettings

    # CoreSettings' default names the API; the worker shows its own name in pg_stat_activity.
    app_name: str = Field("erp-worker", pattern=r"^[A-Za-z0-9._-]{1,63}$")
    health_check_timeout_s: float = Field(2.0, gt=0, le=60, allow_inf_nan=False)
    shutdown_timeout_s: float = Field(25.0, gt=0, le=3600, allow_inf_nan=False)
    metrics_port: Annotated[int, IgnoreServiceLink] = Field(9464, ge=0, le=65535)
    worker_health_port: Annotated[int, IgnoreServiceLink] = Field(8001, ge=1, le=65535)
    worker_concurrency: int = Field(4, ge=1, le=1000)
    job_max_attempts: int = Field(8, ge=1, le=100)
    purge_interval_s: int = Field(3600, ge=1, le=31_536_000)
    purge_retention_s: int = Field(604_800, ge=0, le=315_360_000)

    # Unset: mail jobs stay pending (one warning per start), nothing is lost.
    smtp_host: str | None = None
    smtp_port: Annotated[int, IgnoreServiceLink] = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    mail_from: str = Field("no-reply@localhost", pattern=r"^[^@\s<>]+@[^@\s<>]+$", max_length=320)
    invitation_url_template: str = "http://localhost:8000/invitations/accept?token={token}"

    @field_validator("invitation_url_template")
    @classmethod
    def _one_token_placeholder(cls, value: str) -> str:
        if value.count(TOKEN_PLACEHOLDER) != 1:
            raise ValueError("must contain {token} exactly once")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        # Any other brace would make str.format fail at the first mail, not at start.
        if value.replace(TOKEN_PLACEHOLDER, "").count("{") or value.replace(TOKEN_PLACEHOLDER, "").count("}"):
            raise ValueError("may hold no brace but those of {token}")
        return value
