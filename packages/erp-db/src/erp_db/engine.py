"""The async engine and the session factory, over asyncpg.

Creating an engine opens no connection: the pool connects on first use, so a
service starts (and answers liveness) while PostgreSQL is down. Every bound is
explicit, because the drivers' defaults are unsuited to a web service:
asyncpg waits 60 s to connect and forever for a query.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Final

from sqlalchemy import URL, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from erp_db.database_url import to_asyncpg_url
from erp_db.fair_pool import FairAsyncQueuePool
from erp_db.settings import DatabaseSettings

# An engine-wide execution option that tells the probes they run through PgBouncer.
PGBOUNCER_OPTION: Final = "erp_db_pgbouncer"


def pgbouncer_connect_args() -> dict[str, Any]:
    """asyncpg's connect arguments for PgBouncer in transaction pooling mode (SQLAlchemy's recipe).

    PgBouncer hands each transaction to whichever server connection is free,
    and 1.18 knows nothing of prepared statements: a statement prepared on
    one server connection is missing on the next ("prepared statement
    ... does not exist"), and asyncpg's per-connection counter names
    (``__asyncpg_stmt_1__``) collide between clients ("... already exists").
    So both statement caches are off and every statement gets a unique name.
    SQLAlchemy still prepares each statement and runs it in a second round
    trip; inside a transaction both reach the same server connection, which
    is why nothing may run in autocommit through PgBouncer.
    """
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": _unique_statement_name,
    }


# A connection idle this long is pinged before use (create_engine's docstring).
PING_AFTER_IDLE_S: Final = 2.0
_IDLE_SINCE: Final = "erp_db_idle_since"


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"


def create_engine(
    url: str | URL,
    *,
    application_name: str,
    pool_size: int = 5,
    max_overflow: int = 5,
    pool_timeout: float = 10.0,
    pool_pre_ping: bool = False,
    ping_after_idle_s: float | None = PING_AFTER_IDLE_S,
    connect_timeout: float = 5.0,
    command_timeout: float = 30.0,
    echo: bool = False,
    pgbouncer: bool = False,
) -> AsyncEngine:
    """An :class:`AsyncEngine` whose connections say who they are in ``pg_stat_activity``.

    ``url`` may use any scheme :func:`~erp_db.database_url.to_asyncpg_url`
    accepts. The process never holds more than ``pool_size + max_overflow``
    connections; a checkout waits at most ``pool_timeout`` seconds for one,
    and waiting checkouts are served in arrival order (:mod:`erp_db.fair_pool`).
    A pooled connection that sat idle for ``ping_after_idle_s`` or longer is
    pinged before it is handed out, and replaced when the ping fails
    (:func:`ping_idle_connections`); one in steady use is not: a ping is
    SQLAlchemy's ``BEGIN; ROLLBACK`` on asyncpg, a round trip that
    ``pool_pre_ping`` (every checkout) would add to every request. A
    connection that dies while in use fails its statement, and SQLAlchemy
    then invalidates it and every older connection of the pool, so a server
    restart under load costs at most the requests already on their way.
    ``application_name`` is sent as a server setting at connect time, so it is
    visible to the server for the connection's whole life. A ``connect_timeout``
    in the URL (libpq's name) replaces ``connect_timeout``. With ``pgbouncer``
    the connections suit PgBouncer's transaction pooling
    (:func:`pgbouncer_connect_args`) and the probes avoid autocommit.
    """
    url = to_asyncpg_url(url)
    if "timeout" in url.query:  # the URL's connect_timeout wins over the default
        connect_timeout = float(str(url.query["timeout"]))
        url = url.difference_update_query(["timeout"])
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=pool_pre_ping,
        # Waiting checkouts are served in arrival order (erp_db.fair_pool).
        poolclass=FairAsyncQueuePool,
        echo=echo,
        # SQL logging (DEBUG_MODE) shows statements, never their values: those
        # include password hashes and token hashes (docs/contract.md §9). The
        # values are also kept out of exception messages.
        hide_parameters=True,
        connect_args={
            "timeout": connect_timeout,
            "command_timeout": command_timeout,
            "server_settings": {"application_name": application_name},
            **(pgbouncer_connect_args() if pgbouncer else {}),
        },
        execution_options={PGBOUNCER_OPTION: pgbouncer},
    )
    if ping_after_idle_s is not None and not pool_pre_ping:
        ping_idle_connections(engine, after_s=ping_after_idle_s)
    return engine


def ping_idle_connections(engine: AsyncEngine, *, after_s: float) -> None:
    """Ping a pooled connection at checkout only when it has been idle ``after_s`` or longer.

    SQLAlchemy's "pessimistic disconnect handling" recipe (pool events),
    with the ping skipped for a connection that was in use a moment ago:
    idleness is when a server restart, a proxy's idle timeout or a dropped
    NAT entry goes unnoticed. A failed ping raises ``DisconnectionError``,
    on which the pool discards the connection and checks out another.
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < after_s:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("an idle pooled connection failed its ping") from exc

    event.listen(pool, "checkin", checked_in)
    event.listen(pool, "checkout", checked_out)


def engine_from_settings(
    settings: DatabaseSettings, *, application_name: str, echo: bool = False
) -> AsyncEngine:
    """:func:`create_engine` with the URL and pool bounds of ``DATABASE_*``."""
    return create_engine(
        settings.sqlalchemy_url,
        application_name=application_name,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        echo=echo,
        pgbouncer=settings.pgbouncer,
    )


def create_sessionmaker(engine: AsyncEngine, *, autocommit: bool = False) -> async_sessionmaker[AsyncSession]:
    """Sessions on ``engine`` that keep their objects loaded after ``commit()``.

    ``expire_on_commit=False`` because an async session cannot lazily reload
    an expired attribute: reading one after commit would raise
    ``MissingGreenlet`` instead of returning the value just written.

    ``autocommit`` sessions run each statement on its own, without ``BEGIN``
    and ``COMMIT``: two round trips fewer for work that only reads, and no
    atomicity for work that writes, so use them for reads only. (The pool's
    connections are shared; the mode is set on checkout and reset on return,
    in the driver, without a round trip.) Not through PgBouncer's
    transaction pooling, where a statement outside a transaction and its
    prepared name may reach different servers.
    """
    bind = engine.execution_options(isolation_level="AUTOCOMMIT") if autocommit else engine
    return async_sessionmaker(bind, expire_on_commit=False)
