"""Readiness probes: is PostgreSQL reachable, and is its schema the one this code ships?

Each probe returns erp-core's :class:`~erp_core.ProbeResult`, never raises,
and answers within ``timeout`` even when the server hangs: the deadline is
:func:`erp_core.run_probe`'s, not the driver's. Readiness asks often, so
:func:`probe_database_and_migrations` answers both questions with one
statement: reading ``alembic_version`` proves the connection works, and a
missing table means connected but never migrated. The probes use the
caller's engine, so they see what requests see; with ``pool_pre_ping`` a
reused pooled connection is pinged first (the pool's choice, not the
probe's). The statement runs in autocommit: a read needs no transaction, and
skipping BEGIN and ROLLBACK saves two round trips per probe.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from erp_core import ProbeFailed, ProbeResult, describe_error, run_probe
from erp_db.database_url import server_address
from erp_db.errors import describe_database_error
from erp_db.schema_migrations import shipped_head

_SELECT_ONE = text("SELECT 1")
_SELECT_REVISIONS = text("SELECT version_num FROM alembic_version")
_UNDEFINED_TABLE = "42P01"  # SQLSTATE of asyncpg's UndefinedTableError


async def probe_database(engine: AsyncEngine, *, timeout: float) -> ProbeResult:
    """Run ``SELECT 1`` on a pooled connection: ``ok``, or ``fail`` with a short reason."""

    async def select_one() -> None:
        async with _driver_reasons(engine), engine.connect() as connection:
            await _autocommit(connection)
            await connection.execute(_SELECT_ONE)

    return await run_probe(select_one, timeout=timeout)


async def probe_migrations(engine: AsyncEngine, *, timeout: float) -> ProbeResult:
    """``ok`` when the database is at the head revision this erp-db ships.

    Fails with ``not migrated`` or ``at X, expected Y``, or with the reason the
    database could not be read.
    """
    database, migrations = await probe_database_and_migrations(engine, timeout=timeout)
    return migrations if database.ok else database


async def probe_database_and_migrations(
    engine: AsyncEngine, *, timeout: float
) -> tuple[ProbeResult, ProbeResult]:
    """Both probes, ``(database, migrations)``, from one statement within one ``timeout``.

    When the database cannot be read, the migrations check fails too, with
    ``database unavailable``: its state is unknown.
    """
    revisions: list[frozenset[str]] = []

    async def read_revisions() -> None:
        revisions.append(await _applied_revisions(engine))

    database = await run_probe(read_revisions, timeout=timeout)
    if not database.ok:
        return database, ProbeResult("fail", database.latency_ms, "database unavailable")
    return database, _judge(revisions[0], database.latency_ms)


async def _applied_revisions(engine: AsyncEngine) -> frozenset[str]:
    async with _driver_reasons(engine), engine.connect() as connection:
        await _autocommit(connection)
        try:
            result = await connection.execute(_SELECT_REVISIONS)
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == _UNDEFINED_TABLE:
                return frozenset()
            raise
        return frozenset(result.scalars())


async def _autocommit(connection: AsyncConnection) -> None:
    # For asyncpg this only flips a flag on the connection (restored when it
    # returns to the pool); no statement is sent.
    await connection.execution_options(isolation_level="AUTOCOMMIT")


@contextlib.asynccontextmanager
async def _driver_reasons(engine: AsyncEngine) -> AsyncIterator[None]:
    # run_probe would describe SQLAlchemy's wrapper; report the driver's error.
    # A socket error says nothing of where it tried: add host and port.
    try:
        yield
    except SQLAlchemyError as exc:
        raise ProbeFailed(describe_database_error(exc)) from exc
    except OSError as exc:
        raise ProbeFailed(f"{describe_error(exc)} ({server_address(engine.url)})") from exc


def _judge(applied: frozenset[str], latency_ms: float) -> ProbeResult:
    try:
        expected = shipped_head()
    except Exception as exc:  # a broken installation must fail readiness, not crash it
        return ProbeResult("fail", latency_ms, describe_error(exc))
    if not applied:
        return ProbeResult("fail", latency_ms, "not migrated")
    if applied != {expected}:
        return ProbeResult("fail", latency_ms, f"at {', '.join(sorted(applied))}, expected {expected}")
    return ProbeResult("ok", latency_ms)
