"""``DatabaseSettings``: the ``DATABASE_*`` environment variables, validated.

The URL is normalised at load time (see :mod:`erp_db.database_url`), so every
consumer gets a ``postgresql+asyncpg://`` URL whatever form the operator
pasted. It is a :class:`~pydantic.SecretStr`: ``repr()``, ``str()`` and
validation errors never show the password; :attr:`DatabaseSettings.safe_url`
is the form to log.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict
from sqlalchemy import URL, make_url

from erp_core import ErpSettings
from erp_db.database_url import masked, to_asyncpg_url


class DatabaseSettings(ErpSettings):
    """Where PostgreSQL is and how many connections one process may hold.

    ``pool_size + max_overflow`` bounds the connections per process (contract
    §8); ``pool_timeout_s`` is how long a request waits for one of them.
    ``pgbouncer`` says the URL points at PgBouncer in transaction pooling
    mode (docs/contract.md §11): see :func:`erp_db.engine.pgbouncer_connect_args`.
    """

    model_config = SettingsConfigDict(env_prefix="DATABASE_")

    url: SecretStr
    pool_size: int = Field(5, ge=1, le=1000)
    max_overflow: int = Field(5, ge=0, le=1000)
    pool_timeout_s: float = Field(10.0, gt=0, le=600, allow_inf_nan=False)
    pgbouncer: bool = False

    @field_validator("url", mode="before")
    @classmethod
    def _normalise_url(cls, value: object) -> object:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(raw, str):
            return value  # pydantic reports the wrong type, without the value
        return to_asyncpg_url(raw.strip()).render_as_string(hide_password=False)

    @property
    def sqlalchemy_url(self) -> URL:
        """The URL as SQLAlchemy's object; its ``str()`` masks the password."""
        return make_url(self.url.get_secret_value())

    @property
    def safe_url(self) -> str:
        """The URL with its password replaced by ``***``: for logs and messages."""
        return masked(self.sqlalchemy_url)
