"""The queue engine: a procrastinate ``App`` on the ERP's own PostgreSQL database.

procrastinate keeps its jobs in PostgreSQL tables, so the queue needs no
server of its own: a committed outbox row and the job it becomes live in the
same database, and "the queue's backend is down" means "the database is
down". Its tables, types and functions live in their own schema,
``procrastinate``, out of Alembic's sight (``erp-db check`` compares the
default schema only); every connection of the engine sets that schema as its
``search_path``.

The engine speaks psycopg 3, not asyncpg: :func:`libpq_conninfo` turns the
``DATABASE_URL`` the settings normalised for asyncpg back into a libpq URL.

procrastinate asks its pool to check every connection it hands out, a round
trip before each of its statements (two per job: the fetch and the finish).
Its pool here checks only a connection not handed out for
``PING_AFTER_IDLE_S``, as erp-db's engine does: idleness is when a server
restart or a dropped connection goes unnoticed, and a connection that dies
in use fails its statement, which the worker's restart loop already covers.
"""

from __future__ import annotations

import time
import weakref
from typing import Any, Final

import psycopg
import psycopg_pool
from procrastinate import App, PsycopgConnector
from procrastinate.schema import SchemaManager
from sqlalchemy import make_url

from erp_core import describe_error
from erp_db.engine import PING_AFTER_IDLE_S
from erp_worker.errors import QueueUnavailable

QUEUE_SCHEMA: Final = "procrastinate"
# pg_advisory_xact_lock key of the schema set-up: replicas starting together install it once.
SCHEMA_LOCK_KEY: Final = 0x6572705F776B72  # "erp_wkr"
_SEARCH_PATH: Final = f"-c search_path={QUEUE_SCHEMA}"


def libpq_conninfo(database_url: str) -> str:
    """The libpq URL of an asyncpg ``postgresql+asyncpg://`` URL (``ssl=`` back to ``sslmode=``)."""
    url = make_url(database_url).set(drivername="postgresql")
    if "ssl" in url.query:
        url = url.update_query_dict({"sslmode": str(url.query["ssl"])}).difference_update_query(["ssl"])
    return url.render_as_string(hide_password=False)


def create_queue_app(
    conninfo: str, *, application_name: str, max_connections: int, synchronous_commit: bool = True
) -> App:
    """A procrastinate ``App`` whose pool holds at most ``max_connections``; open it with ``open_async``.

    ``synchronous_commit=False`` is for ``erp-worker run``'s own bookkeeping
    (a job fetched, finished, retried, deferred by the relay): its commits
    return before their WAL reaches the disk, and a crash of PostgreSQL
    itself (not of the worker) can undo the last fraction of a second of
    them. Every such loss ends in a job run again, which the outbox makes
    harmless: the outbox row, committed synchronously on its own
    connections, says whether the work was done or failed for good, and a
    synchronous commit makes every earlier one durable with it. It spares a WAL flush in two of
    a mail's round trips. What an operator asks (``erp-worker jobs retry``)
    keeps the default.
    """
    options = _SEARCH_PATH if synchronous_commit else f"{_SEARCH_PATH} -c synchronous_commit=off"
    connector = PsycopgConnector(
        conninfo=conninfo,
        kwargs={"options": options, "application_name": application_name},
        min_size=1,
        max_size=max_connections,
        pool_factory=_pool_checking_idle_connections,
    )
    return App(connector=connector)


def _pool_checking_idle_connections(**kwargs: Any) -> psycopg_pool.AsyncConnectionPool:
    """procrastinate's pool, its connections in autocommit, its every-checkout ``check`` only after idleness.

    Every query procrastinate runs on the pool is one statement (a call of
    one of its functions, or one ``INSERT`` of a batch), so autocommit
    changes no outcome; it drops the ``BEGIN`` and ``COMMIT`` round trips
    psycopg adds around each, four of a mail job's six. Set by ``configure``
    and not in ``kwargs``: procrastinate opens its listener with the pool's
    ``kwargs`` and an ``autocommit`` of its own, and two would collide.
    """
    kwargs["check"] = check_if_idle
    kwargs["configure"] = _autocommit
    return psycopg_pool.AsyncConnectionPool(**kwargs)


async def _autocommit(connection: psycopg.AsyncConnection[Any]) -> None:
    await connection.set_autocommit(True)


# When each connection was last handed out: it has been back in the pool for less than that.
_handed_out_at: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = weakref.WeakKeyDictionary()


async def check_if_idle(connection: psycopg.AsyncConnection[Any]) -> None:
    """psycopg_pool's check (an empty query; raising discards the connection), after idleness only."""
    now = time.monotonic()
    handed_out_at = _handed_out_at.get(connection)
    if handed_out_at is None or now - handed_out_at >= PING_AFTER_IDLE_S:
        await psycopg_pool.AsyncConnectionPool.check_connection(connection)
    _handed_out_at[connection] = now


async def ensure_queue_schema(conninfo: str) -> bool:
    """Install procrastinate's schema unless present; ``True`` when this call installed it.

    Under a transaction-scoped advisory lock, so replicas starting at once
    install it once. An upgrade of procrastinate that changes its schema
    ships migrations of its own (``procrastinate schema --migration-path``),
    applied by hand before the new worker starts; the range in pyproject
    keeps to one major version.
    """
    try:
        return await _install_schema(conninfo)
    except psycopg.Error as exc:
        raise QueueUnavailable(f"queue schema: {describe_error(exc)}") from None


async def _install_schema(conninfo: str) -> bool:
    connect = psycopg.AsyncConnection.connect(conninfo, options=_SEARCH_PATH)
    async with await connect as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        cursor = await connection.execute("SELECT to_regclass(%s)", (f"{QUEUE_SCHEMA}.procrastinate_jobs",))
        row = await cursor.fetchone()
        if row is not None and row[0] is not None:
            return False
        await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {QUEUE_SCHEMA}")
        await connection.execute(SchemaManager.get_schema())
    return True
