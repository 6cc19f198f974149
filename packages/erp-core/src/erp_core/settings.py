"""Settings base classes: environment variables (or ``.env``) into typed, validated objects.

Every ERP package declares its settings as a subclass of :class:`ErpSettings`.
A service composes them by declaring a field whose type is another
``ErpSettings`` subclass (``database: DatabaseSettings``); that part then reads
its own variables with its own prefix, and :meth:`ErpSettings.__init__` builds
every part before validating the whole, so one bad ``REDIS_PORT`` and one bad
``DATABASE_URL`` are reported together in a single :class:`ConfigurationError`.

Hand-written because pydantic-settings reports field names and values, and
stops at the first failing class; the contract asks for environment names,
no values and every bad variable at once.
"""

from __future__ import annotations

import enum
import typing
import zoneinfo
from typing import Any, ClassVar

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from erp_core.errors import ConfigurationError


class Environment(enum.StrEnum):
    """Where the process runs; decides docs exposure, HSTS and what is refused."""

    DEVELOPMENT = "development"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"

    @property
    def is_deployed(self) -> bool:
        return self in (Environment.STAGING, Environment.PRODUCTION)


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class LogFormat(enum.StrEnum):
    JSON = "json"
    CONSOLE = "console"


class ErpSettings(BaseSettings):
    """Base of every settings class: ``.env`` support, secrets kept out of errors.

    Real environment variables beat the same key in ``.env``. Subclasses set
    ``env_prefix`` in their ``model_config`` when their variables share one.
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        hide_input_in_errors=True,
        frozen=True,
    )

    # Keyword arguments of BaseSettings.__init__ that steer the sources; they are
    # handed on to every composed part so a test's `_env_file=None` reaches them all.
    _SOURCE_OPTIONS: ClassVar[tuple[str, ...]] = ("_env_file", "_env_file_encoding", "_case_sensitive")

    def __init__(self, **values: Any) -> None:
        problems: dict[str, str] = {}
        failed_parts: set[str] = set()
        options = {key: values[key] for key in self._SOURCE_OPTIONS if key in values}
        for name, part_cls in _settings_parts(type(self)).items():
            if name in values:
                continue
            try:
                values[name] = part_cls(**options)
            except ConfigurationError as exc:
                problems.update(exc.problems)
                failed_parts.add(name)
        try:
            super().__init__(**values)
        except ValidationError as exc:
            problems.update(self.env_problems(exc, skip=failed_parts))
        except UnicodeDecodeError:
            problems[".env"] = "cannot be read as UTF-8 text"
        except SettingsError as exc:  # a source failed before validation, e.g. a file it cannot parse
            problems[type(self).__name__] = str(exc).splitlines()[0][:200]
        if problems:
            raise ConfigurationError(problems)

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable that feeds ``field`` (its alias, or prefix + name)."""
        info = cls.model_fields.get(field)
        if info is not None and isinstance(info.validation_alias, str):
            return info.validation_alias.upper()
        if info is None:  # pydantic reports an aliased field under its alias
            return field.upper()
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    @classmethod
    def env_problems(
        cls, exc: ValidationError, *, skip: set[str] | frozenset[str] = frozenset()
    ) -> dict[str, str]:
        """One reason per environment variable, without the rejected input.

        ``skip`` names composed parts whose own variables were already reported.
        """
        problems: dict[str, str] = {}
        for error in exc.errors(include_input=False, include_url=False, include_context=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            if field in skip:
                continue
            name = cls.env_name(field) if field else cls.__name__
            reason = error["msg"].removeprefix("Value error, ")
            problems[name] = f"{problems[name]}; {reason}" if name in problems else reason
        return problems


def _settings_parts(cls: type[ErpSettings]) -> dict[str, type[ErpSettings]]:
    parts: dict[str, type[ErpSettings]] = {}
    hints = typing.get_type_hints(cls)
    for name in cls.model_fields:
        hint = hints.get(name)
        if isinstance(hint, type) and issubclass(hint, ErpSettings):
            parts[name] = hint
    return parts


class CoreSettings(ErpSettings):
    """What every ERP process needs: its name, environment, time zone and logging."""

    # Shown in pg_stat_activity and Redis CLIENT LIST, which refuses spaces.
    app_name: str = Field("erp-api", pattern=r"^[A-Za-z0-9._-]{1,63}$", validation_alias="APP_NAME")
    environment: Environment = Field(Environment.DEVELOPMENT, validation_alias="ENVIRONMENT")
    debug_mode: bool = Field(False, validation_alias="DEBUG_MODE")
    time_zone: str = Field("UTC", validation_alias="TIME_ZONE")
    log_level: LogLevel = Field(LogLevel.INFO, validation_alias="LOG_LEVEL")
    log_format: LogFormat = Field(LogFormat.JSON, validation_alias="LOG_FORMAT")

    @field_validator("log_level", "log_format", "environment", mode="before")
    @classmethod
    def _case_insensitive_choice(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        return value.strip().upper() if info.field_name == "log_level" else value.strip().lower()

    @field_validator("debug_mode")
    @classmethod
    def _no_debug_in_production(cls, value: bool, info: ValidationInfo) -> bool:
        # A field validator (not a model validator) so this error is reported
        # together with every other bad variable rather than after them.
        if value and info.data.get("environment") is Environment.PRODUCTION:
            raise ValueError("must be false when ENVIRONMENT is production")
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a known IANA time zone name") from None
        return value

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The business time zone, for later features that need local dates."""
        return zoneinfo.ZoneInfo(self.time_zone)
