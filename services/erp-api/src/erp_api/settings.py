"""The service's settings: erp-core's, the database's and the cache's, plus the HTTP knobs.

Built once by :func:`erp_api.app.create_app` (or passed in by a test); one bad
variable anywhere, in any part, is reported together with all the others.
"""

from __future__ import annotations

import json
import re
from typing import Annotated

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import NoDecode

from erp_cache import RedisSettings
from erp_core import CoreSettings, Environment, IgnoreServiceLink
from erp_db import DatabaseSettings

# An origin is scheme://host[:port], nothing after it (RFC 6454 serialisation).
MIN_JWT_KEY_BYTES = 32
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|\*", re.IGNORECASE)


class ApiSettings(CoreSettings):
    """Everything ``erp-api`` reads from its environment (docs/contract.md §2)."""

    database: DatabaseSettings
    redis: RedisSettings

    api_v1_prefix: str = "/api/v1"
    cors_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_allow_credentials: bool = False
    # Every duration and size is finite and bounded (`inf` or `1e400` would pass a bare `gt=0`).
    health_check_timeout_s: float = Field(2.0, gt=0, le=60, allow_inf_nan=False)
    shutdown_timeout_s: float = Field(25.0, gt=0, le=3600, allow_inf_nan=False)
    max_request_body_bytes: int = Field(1_048_576, ge=1, le=1_073_741_824)
    # The Prometheus listener of docs/contract.md §12, its own port; 0 turns it off.
    metrics_port: Annotated[int, IgnoreServiceLink] = Field(9464, ge=0, le=65535)
    # false leaves the health probes out of the access log (docs/contract.md §7).
    access_log_health_probes: bool = True
    # Identity (docs/contract.md §9). Unset outside staging/production, the
    # identity feature makes a random key per process (tokens die with it).
    jwt_secret_key: SecretStr | None = Field(None, validate_default=True)
    access_token_ttl_s: int = Field(900, ge=1, le=86_400)
    refresh_token_ttl_s: int = Field(2_592_000, ge=1, le=31_536_000)
    login_max_failures: int = Field(5, ge=1, le=1_000)
    login_failure_window_s: int = Field(900, ge=1, le=86_400)

    @field_validator("jwt_secret_key")
    @classmethod
    def _strong_jwt_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        environment = info.data.get("environment")
        if value is None and isinstance(environment, Environment) and environment.is_deployed:
            raise ValueError("required when ENVIRONMENT is staging or production")
        # HS256 wants a key at least as long as its 256-bit output (RFC 7518 §3.2).
        if value is not None and len(value.get_secret_value().encode()) < MIN_JWT_KEY_BYTES:
            raise ValueError(f"must be at least {MIN_JWT_KEY_BYTES} bytes")
        return value

    @field_validator("api_v1_prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        if not value.startswith("/") or value.endswith("/"):
            raise ValueError("must start with '/' and not end with '/'")
        return value

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _origin_list(cls, value: object) -> object:
        # NoDecode keeps pydantic-settings from JSON-decoding first: a plain
        # comma-separated list would otherwise fail before validation and hide
        # every other bad variable.
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                raise ValueError("not a valid JSON list") from None
        return [origin.strip() for origin in text.split(",") if origin.strip()]

    @field_validator("cors_allowed_origins")
    @classmethod
    def _origins_shape(cls, value: list[str]) -> list[str]:
        bad = [origin for origin in value if not _ORIGIN.fullmatch(origin)]
        if bad:
            raise ValueError(f"{len(bad)} entr(y/ies) not of the form scheme://host[:port] or *")
        # Browsers send the scheme and host in lower case (RFC 6454 serialisation), and
        # origins are compared as strings: `https://App.example.com` would never match.
        return [origin.lower() for origin in value]

    @field_validator("cors_allow_credentials")
    @classmethod
    def _no_credentials_for_everyone(cls, value: bool, info: ValidationInfo) -> bool:
        if value and "*" in info.data.get("cors_allowed_origins", []):
            raise ValueError("cannot be true while CORS_ALLOWED_ORIGINS contains '*'")
        return value
