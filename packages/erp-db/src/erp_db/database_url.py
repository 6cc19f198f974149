"""PostgreSQL URLs as erp-db uses them: always ``postgresql+asyncpg://``, passwords kept out of text.

Managed PostgreSQL services and libpq tools hand out ``postgres://`` or
``postgresql://`` URLs, often with ``sslmode=require``. SQLAlchemy would pick
a synchronous driver for the first two, and asyncpg refuses ``sslmode``
(SQLAlchemy passes query parameters to ``asyncpg.connect()`` as keywords), so
every URL erp-db accepts goes through :func:`to_asyncpg_url` first.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError

from erp_db.errors import InvalidDatabaseUrl

ASYNCPG_DRIVERNAME: Final = "postgresql+asyncpg"

_ACCEPTED_DRIVERNAMES = frozenset({"postgresql", "postgres", ASYNCPG_DRIVERNAME})

# libpq's sslmode values; asyncpg's ``ssl`` parameter takes the same words.
_SSL_MODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})

# libpq spellings of parameters asyncpg knows by another name.
_LIBPQ_RENAMES = {"connect_timeout": "timeout"}
# What a URL may carry: SQLAlchemy hands each query parameter to asyncpg.connect()
# as a string keyword, so only those that work as strings (or that
# :func:`erp_db.engine.create_engine` converts: ``timeout``) are accepted.
_ACCEPTED_PARAMETERS = frozenset({"ssl", "timeout", "target_session_attrs", "prepared_statement_cache_size"})
# asyncpg's SessionAttribute values; anything else fails every connection attempt.
_TARGET_SESSION_ATTRS = frozenset({"any", "primary", "standby", "prefer-standby", "read-write", "read-only"})


def to_asyncpg_url(url: str | URL) -> URL:
    """``url`` for SQLAlchemy's asyncpg dialect, or :class:`InvalidDatabaseUrl`.

    Accepts the ``postgresql://``, ``postgres://`` and ``postgresql+asyncpg://``
    schemes and translates libpq's ``sslmode=`` into asyncpg's ``ssl=``. Error
    messages describe the problem without quoting the URL.
    """
    if isinstance(url, str):
        try:
            url = make_url(url)
        except (ArgumentError, ValueError):  # ValueError: a port like ':abc'
            raise InvalidDatabaseUrl(
                "not a URL of the form postgresql://user:password@host:port/name"
            ) from None
    if url.drivername not in _ACCEPTED_DRIVERNAMES:
        raise InvalidDatabaseUrl(
            f"unsupported scheme {url.drivername!r}: use postgresql://, postgres:// or postgresql+asyncpg://"
        )
    if url.host is not None and ("@" in url.host or "/" in url.host):
        # 'user:p@ss@host' parses with host 'ss@host': an unescaped '@' in the password.
        raise InvalidDatabaseUrl("malformed host: percent-encode '@' and '/' in the user name and password")
    if url.port is not None and not 1 <= url.port <= 65535:
        raise InvalidDatabaseUrl("the port must be a number from 1 to 65535")
    repeated = sorted(name for name, value in url.query.items() if not isinstance(value, str))
    if repeated:
        raise InvalidDatabaseUrl(
            f"query parameter(s) {', '.join(repeated)} given more than once: give each once"
        )
    url = _password_out_of_query(url.set(drivername=ASYNCPG_DRIVERNAME))
    url = _refuse_unknown_parameters(_rename_libpq_parameters(_translate_sslmode(url)))
    return _refuse_unusable_values(url)


def _password_out_of_query(url: URL) -> URL:
    # libpq accepts `?password=`; in the query it would escape hide_password
    # and reach every log line that prints the URL.
    if "password" not in url.query:
        return url
    password = url.query["password"]
    if url.password is not None or not isinstance(password, str):
        raise InvalidDatabaseUrl("give the password once, in the user-info part or as ?password=")
    return url.difference_update_query(["password"]).set(password=password)


def _rename_libpq_parameters(url: URL) -> URL:
    for libpq_name, asyncpg_name in _LIBPQ_RENAMES.items():
        if libpq_name in url.query:
            if asyncpg_name in url.query:
                raise InvalidDatabaseUrl(f"{libpq_name} and {asyncpg_name} are the same parameter: give one")
            value = url.query[libpq_name]
            url = url.difference_update_query([libpq_name]).update_query_dict({asyncpg_name: value})
    if "timeout" in url.query and not _is_positive_number(url.query["timeout"]):
        raise InvalidDatabaseUrl("connect_timeout must be a positive number of seconds")
    return url


def _is_positive_number(value: str | tuple[str, ...]) -> bool:
    try:
        return isinstance(value, str) and float(value) > 0
    except ValueError:
        return False


def _refuse_unknown_parameters(url: URL) -> URL:
    # An unknown parameter would reach asyncpg.connect() and fail every
    # connection, long after start-up: refuse it while validating settings.
    unknown = sorted(set(url.query) - _ACCEPTED_PARAMETERS)
    if unknown:
        raise InvalidDatabaseUrl(
            f"query parameter(s) {', '.join(unknown)} not supported "
            f"(accepted: sslmode, connect_timeout, {', '.join(sorted(_ACCEPTED_PARAMETERS))})"
        )
    return url


def _refuse_unusable_values(url: URL) -> URL:
    # asyncpg checks these only when it connects: the service would stay unready
    # for ever. The messages name the parameter and the accepted values, not the URL.
    query = url.query
    if "ssl" in query and query["ssl"] not in _SSL_MODES:
        raise InvalidDatabaseUrl(f"ssl must be one of {', '.join(sorted(_SSL_MODES))}")
    if "target_session_attrs" in query and query["target_session_attrs"] not in _TARGET_SESSION_ATTRS:
        raise InvalidDatabaseUrl(
            f"target_session_attrs must be one of {', '.join(sorted(_TARGET_SESSION_ATTRS))}"
        )
    cache_size = query.get("prepared_statement_cache_size")
    if cache_size is not None and not (
        isinstance(cache_size, str) and cache_size.isascii() and cache_size.isdigit()
    ):
        raise InvalidDatabaseUrl(
            "prepared_statement_cache_size must be a whole number (0 turns the cache off)"
        )
    return url


def _translate_sslmode(url: URL) -> URL:
    if "sslmode" not in url.query:
        return url
    mode = url.query["sslmode"]
    if not isinstance(mode, str) or mode not in _SSL_MODES:
        raise InvalidDatabaseUrl(f"sslmode must be one of {', '.join(sorted(_SSL_MODES))}")
    if "ssl" in url.query and url.query["ssl"] != mode:
        raise InvalidDatabaseUrl("sslmode and ssl disagree: give only one of them")
    return url.difference_update_query(["sslmode"]).update_query_dict({"ssl": mode})


def masked(url: URL) -> str:
    """The URL for logs and messages: the password, if any, replaced by ``***``."""
    return url.render_as_string(hide_password=True)


def server_address(url: URL) -> str:
    """``host:port`` for error messages, with libpq's defaults filled in."""
    return f"{url.host or 'localhost'}:{url.port or 5432}"
