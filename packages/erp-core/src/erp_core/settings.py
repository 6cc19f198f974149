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
import re
import typing
import zoneinfo
from typing import Any, ClassVar

from pydantic import BeforeValidator, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

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


# Kubernetes service links (like Docker links before them) put `<SERVICE>_PORT=tcp://10.0.0.3:6379`
# into every pod of the namespace: a Service named `redis` sets `REDIS_PORT` so. No operator writes
# that form for a port they chose, and one they set in the container spec replaces the link's.
_SERVICE_LINK = re.compile(r"(?:tcp|udp|sctp)://[^\s/]+:[0-9]{1,5}")


def _default_for_service_link(value: object) -> object:
    if isinstance(value, str) and _SERVICE_LINK.fullmatch(value.strip()):
        raise PydanticUseDefault
    return value


IgnoreServiceLink = BeforeValidator(_default_for_service_link)
"""Annotate a ``*_PORT`` field with it: a service-link value (``tcp://host:port``) leaves the default."""


class ErpSettings(BaseSettings):
    """Base of every settings class: ``.env`` support, secrets kept out of errors.

    Real environment variables beat the same key in ``.env``. Subclasses set
    ``env_prefix`` in their ``model_config`` when their variables share one.
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # `X=` (compose files and manifests pass variables through empty) means "not set".
        env_ignore_empty=True,
        hide_input_in_errors=True,
        frozen=True,
    )

    # Keyword arguments of BaseSettings.__init__ that steer the sources; they are
    # handed on to every composed part so a test's `_env_file=None` reaches them all.
    _SOURCE_OPTIONS: ClassVar[tuple[str, ...]] = ("_env_file", "_env_file_encoding", "_case_sensitive")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # A composed part reads its own prefixed variables (see __init__), never one
        # variable named like the field: without NoDecode, pydantic-settings would parse
        # an unrelated `DATABASE=...` or `REDIS=...` as the part's JSON and fail the start.
        for name in _settings_parts(cls):
            metadata = cls.model_fields[name].metadata
            if NoDecode not in metadata:
                metadata.append(NoDecode)

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
    app_name: str = Field("erp-api", pattern=r"^[A-Za-z0-9._-]{1,63}$")
    environment: Environment = Environment.DEVELOPMENT
    debug_mode: bool = False
    time_zone: str = "UTC"
    log_level: LogLevel = LogLevel.INFO
    log_format: LogFormat = LogFormat.JSON

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
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            # OSError: a zone directory such as `America` is found but cannot be read as a zone.
            raise ValueError("not a known IANA time zone name") from None
        return value

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The business time zone, for later features that need local dates."""
        return zoneinfo.ZoneInfo(self.time_zone)
