"""Readiness probes: is PostgreSQL reachable, and is its schema the one this code ships?

Each probe returns erp-core's :class:`~erp_core.ProbeResult`, never raises,
and answers within ``timeout`` even when the server hangs: the deadline is
:func:`erp_core.run_probe`'s, not the driver's. Readiness asks often, so
:func:`probe_database_and_migrations` answers both questions with one
statement: reading ``alembic_version`` proves the connection works, and a
missing table means connected but never migrated. Only a database at a
revision this release does not ship (a newer release migrated it, or
something foreign did) costs a second statement: the walk of
:mod:`erp_db.revision_ledger` that tells "ahead" (ready) from "unknown"
(docs/contract.md §4). The probes use the
caller's engine, so they see what requests see; with ``pool_pre_ping`` a
reused pooled connection is pinged first (the pool's choice, not the
probe's). The statement runs in autocommit: a read needs no transaction, and
skipping BEGIN and ROLLBACK saves two round trips per probe; except through
PgBouncer (``create_engine(pgbouncer=True)``), where outside a transaction
a statement and its prepared name may reach different servers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from erp_core import ProbeFailed, ProbeResult, describe_error, run_probe
from erp_db.database_url import server_address
from erp_db.engine import PGBOUNCER_OPTION
from erp_db.errors import describe_database_error
from erp_db.revision_ledger import descendants_of
from erp_db.schema_migrations import shipped_head, shipped_revisions

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
    """``ok`` when the database is at the head revision this erp-db ships, or ahead of it.

    Ahead means every revision the database is at descends from this head,
    as the ledger of applied revisions shows. Fails with a reason that starts
    with ``empty``, ``behind`` or ``unknown``, or with the reason the
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
    positions: list[tuple[frozenset[str], frozenset[str]]] = []

    async def read_position() -> None:
        positions.append(await _read_position(engine))

    database = await run_probe(read_position, timeout=timeout)
    if not database.ok:
        return database, ProbeResult("fail", database.latency_ms, "database unavailable")
    applied, descendants = positions[0]
    return database, _judge(applied, descendants, database.latency_ms)


async def _read_position(engine: AsyncEngine) -> tuple[frozenset[str], frozenset[str]]:
    """The revisions the database is at, and those of them the ledger shows descend from this head."""
    async with _driver_reasons(engine), engine.connect() as connection:
        await _autocommit(connection)
        try:
            applied = frozenset((await connection.execute(_SELECT_REVISIONS)).scalars())
        except DBAPIError as exc:
            if _is_undefined_table(exc):
                return frozenset(), frozenset()
            raise
        if not applied or not applied.isdisjoint(_shipped_or_none()):
            return applied, frozenset()
        try:
            return applied, frozenset(await descendants_of(connection, applied, shipped_head()))
        except DBAPIError as exc:
            if _is_undefined_table(exc):  # nothing ever recorded a revision: cannot place it
                return applied, frozenset()
            raise


def _shipped_or_none() -> frozenset[str]:
    try:
        return shipped_revisions()
    except Exception:  # a broken installation: _judge reports it
        return frozenset()


def _is_undefined_table(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == _UNDEFINED_TABLE


async def _autocommit(connection: AsyncConnection) -> None:
    if connection.engine.get_execution_options().get(PGBOUNCER_OPTION):
        return
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


def _judge(applied: frozenset[str], descendants: frozenset[str], latency_ms: float) -> ProbeResult:
    try:
        head, shipped = shipped_head(), shipped_revisions()
    except Exception as exc:  # a broken installation must fail readiness, not crash it
        return ProbeResult("fail", latency_ms, describe_error(exc))
    at = ", ".join(sorted(applied))
    if not applied:
        return ProbeResult("fail", latency_ms, "empty: not migrated")
    if applied == {head} or (applied.isdisjoint(shipped) and descendants == applied):
        return ProbeResult("ok", latency_ms)  # at head, or ahead: a newer release migrated
    if applied <= shipped:
        return ProbeResult("fail", latency_ms, f"behind: at {at}, expected {head}")
    return ProbeResult("fail", latency_ms, f"unknown: at {at}, not known to descend from {head}")
