"""Where the application cache lives: ``REDIS_*`` variables or one ``APP_CACHE_REDIS_URL``.

Managed Redis services hand out a single URL, while a compose file or a
Kubernetes manifest more often sets host, port and password apart; both
are accepted, and an explicit ``APP_CACHE_REDIS_URL`` wins (docs/contract.md §2).
Passwords are :class:`~pydantic.SecretStr` and are checked without being
quoted back, so they never reach ``repr()``, a log line or a settings error.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict
from redis.asyncio.connection import Connection, parse_url
from redis.exceptions import RedisError

from erp_core import ErpSettings, IgnoreServiceLink

_SCHEMES = ("redis", "rediss", "unix")

# A bare host name or IP address: anything else (``/``, ``@``, ``?``, a space)
# would change the meaning of the URL built from it.
_HOST = re.compile(r"[A-Za-z0-9._:-]+")

# The password in a unix:// URL travels in the query string (?password=...).
_QUERY_PASSWORD = re.compile(r"(?<=[?&]password=)[^&#]*")

_MASK = "***"

# URL options that configure the pool (erp_cache.client uses a BlockingConnectionPool), not a connection.
_POOL_OPTIONS = ("max_connections", "timeout")


class RedisSettings(ErpSettings):
    """The Redis server of the application cache, and the URL to reach it."""

    model_config = SettingsConfigDict(env_prefix="REDIS_")

    host: str = Field("localhost", min_length=1)
    # A Kubernetes Service named `redis` injects REDIS_PORT=tcp://<ip>:<port>: left at the default.
    port: Annotated[int, IgnoreServiceLink] = Field(6379, ge=1, le=65535)
    password: SecretStr | None = None
    cache_db: int = Field(0, ge=0)
    cache_url: SecretStr | None = Field(None, validation_alias="APP_CACHE_REDIS_URL")

    @field_validator("host")
    @classmethod
    def _plain_host(cls, value: str) -> str:
        if not _HOST.fullmatch(value):
            raise ValueError("must be a host name or an IP address")
        return value

    @field_validator("cache_url")
    @classmethod
    def _usable_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            problem = _url_problem(value.get_secret_value())
            if problem is not None:
                raise ValueError(problem)
        return value

    @property
    def url(self) -> SecretStr:
        """``APP_CACHE_REDIS_URL`` when set, otherwise the URL the four ``REDIS_*`` parts make."""
        if self.cache_url is not None:
            return self.cache_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        credentials = ""
        if self.password is not None:
            credentials = f":{quote(self.password.get_secret_value(), safe='')}@"
        return SecretStr(f"redis://{credentials}{host}:{self.port}/{self.cache_db}")

    @property
    def safe_url(self) -> str:
        """:attr:`url` with its password masked: what a start-up log line may show."""
        return _masked(self.url.get_secret_value())


def _url_problem(url: str) -> str | None:
    # The reasons describe the URL's shape and never quote it: it may hold a password.
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a valid URL"
    try:
        port = parts.port  # reading it checks it is a number from 0 to 65535
    except ValueError:
        port = 0
    if port == 0:
        return "its port must be a number from 1 to 65535"
    if parts.scheme not in _SCHEMES:
        return "must be a redis://, rediss:// or unix:// URL"
    if parts.scheme == "unix":
        if not parts.path:
            return "must give the socket's path (unix:///run/redis.sock)"
    elif not parts.hostname:
        return "must name a host (redis://host:6379/0)"
    elif parts.path.strip("/") and not parts.path.strip("/").isdigit():
        return "its path must be a database number (redis://host:6379/0)"
    try:
        options = parse_url(url)
    except ValueError:
        return "has a query option redis-py cannot read"
    # redis-py hands every other query option to the connection class as a keyword:
    # one it does not take (`?foo=bar`, `?ssl_cert_reqs=` on redis://) would fail
    # every command with a TypeError. Building a connection object does no I/O.
    # parse_url's TypedDict knows only the options redis-py parses; any key may be there.
    keywords: dict[str, Any] = dict(options)
    connection_class = keywords.pop("connection_class", Connection)
    for name in _POOL_OPTIONS:
        keywords.pop(name, None)
    try:
        connection_class(**keywords)
    except (TypeError, ValueError, RedisError):
        return "has a query option redis-py cannot use with this scheme"
    return None


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is not None:
        # Rebuilt only when there is a password: urlunsplit() would also turn
        # an empty netloc (unix:///run/redis.sock) into unix:/run/redis.sock.
        userinfo, _, hostport = parts.netloc.rpartition("@")
        username = userinfo.partition(":")[0]
        url = parts._replace(netloc=f"{username}:{_MASK}@{hostport}").geturl()
    return _QUERY_PASSWORD.sub(_MASK, url)
