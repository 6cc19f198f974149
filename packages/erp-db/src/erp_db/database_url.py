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
    return _translate_sslmode(url.set(drivername=ASYNCPG_DRIVERNAME))


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
