"""The readiness probes: a true answer within the timeout, whatever state PostgreSQL is in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import event, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from erp_core import ProbeResult
from erp_core.testing import unresponsive_server
from erp_db.engine import create_engine
from erp_db.probes import probe_database, probe_database_and_migrations, probe_migrations
from erp_db.schema_migrations import script_directory, shipped_head, upgrade
from erp_db.testing import upgrade_as_newer_release

# How far past its timeout a probe may answer: scheduling, not waiting.
SLACK_S = 0.2
PASSWORD = "Pr0beS3cret"

Probe = Callable[[AsyncEngine, float], Awaitable[ProbeResult]]


async def database_only(engine: AsyncEngine, timeout: float) -> ProbeResult:
    return await probe_database(engine, timeout=timeout)


async def migrations_only(engine: AsyncEngine, timeout: float) -> ProbeResult:
    return await probe_migrations(engine, timeout=timeout)


async def both_combined(engine: AsyncEngine, timeout: float) -> ProbeResult:
    database, migrations = await probe_database_and_migrations(engine, timeout=timeout)
    assert not migrations.ok or database.ok
    return database


EVERY_PROBE = pytest.mark.parametrize("probe", [database_only, migrations_only, both_combined])


@pytest.fixture
async def engine_on() -> AsyncIterator[Callable[[str], AsyncEngine]]:
    engines: list[AsyncEngine] = []

    def make(url: str) -> AsyncEngine:
        engines.append(create_engine(url, application_name="erp-db-probe-test"))
        return engines[-1]

    yield make
    for engine in engines:
        await engine.dispose()


async def test_database_probe_is_ok_against_the_live_server(erp_db_engine: AsyncEngine) -> None:
    result = await probe_database(erp_db_engine, timeout=2.0)

    assert result.as_dict().keys() == {"status", "latency_ms"}
    assert result.ok
    assert 0 <= result.latency_ms < 2000


async def test_migrations_probe_is_ok_at_the_shipped_head(erp_db_engine: AsyncEngine) -> None:
    assert (await probe_migrations(erp_db_engine, timeout=2.0)).ok


async def test_combined_probe_answers_both_with_one_statement(erp_db_engine: AsyncEngine) -> None:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(erp_db_engine.sync_engine, "before_cursor_execute", record)
    try:
        database, migrations = await probe_database_and_migrations(erp_db_engine, timeout=2.0)
    finally:
        event.remove(erp_db_engine.sync_engine, "before_cursor_execute", record)

    assert (database.status, migrations.status) == ("ok", "ok")
    assert statements == ["SELECT version_num FROM alembic_version"]


async def test_a_database_never_migrated_is_connected_but_not_migrated(empty_database, engine_on) -> None:
    database, migrations = await probe_database_and_migrations(engine_on(empty_database), timeout=2.0)

    assert database.ok
    assert (migrations.status, migrations.error) == ("fail", "empty: not migrated")
    assert (await probe_migrations(engine_on(empty_database), timeout=2.0)).error == "empty: not migrated"


async def test_a_database_at_a_revision_nothing_recorded_is_unknown(
    empty_database, engine_on, open_connection
) -> None:
    connection = await open_connection(empty_database)
    await connection.execute(text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)"))
    await connection.execute(text("INSERT INTO alembic_version VALUES ('0123456789ab')"))

    result = await probe_migrations(engine_on(empty_database), timeout=2.0)

    assert (result.status, result.error) == (
        "fail",
        f"unknown: at 0123456789ab, not known to descend from {shipped_head()}",
    )


async def test_a_database_ahead_of_the_head_is_ready_in_two_statements(empty_database, engine_on) -> None:
    # A newer release migrated: this (older) code passes, reading the ledger once more.
    await asyncio.to_thread(upgrade_as_newer_release, empty_database)
    engine = engine_on(empty_database)
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    database, migrations = await probe_database_and_migrations(engine, timeout=2.0)

    assert (database.status, migrations.status) == ("ok", "ok")
    assert len(statements) == 2


async def test_a_database_behind_the_head_says_so(empty_database, engine_on) -> None:
    previous = script_directory().get_revision(shipped_head()).down_revision
    assert isinstance(previous, str)
    await asyncio.to_thread(upgrade, empty_database, previous)

    result = await probe_migrations(engine_on(empty_database), timeout=2.0)

    assert (result.status, result.error) == ("fail", f"behind: at {previous}, expected {shipped_head()}")


async def test_a_foreign_revision_over_a_recorded_history_is_unknown(
    empty_database, engine_on, open_connection
) -> None:
    # The ledger exists (this release migrated) but the revision now in the
    # database descends from nothing recorded: some other code moved it.
    await asyncio.to_thread(upgrade, empty_database)
    connection = await open_connection(empty_database)
    await connection.execute(text("UPDATE alembic_version SET version_num = 'f0f0f0f0f0f0'"))

    result = await probe_migrations(engine_on(empty_database), timeout=2.0)

    assert (result.status, result.error) == (
        "fail",
        f"unknown: at f0f0f0f0f0f0, not known to descend from {shipped_head()}",
    )


@EVERY_PROBE
async def test_probe_fails_within_its_timeout_when_the_server_hangs(probe: Probe, engine_on) -> None:
    async with unresponsive_server() as port:
        engine = engine_on(f"postgresql://erp:{PASSWORD}@127.0.0.1:{port}/erp")
        started = time.perf_counter()
        result = await probe(engine, 0.5)
        elapsed = time.perf_counter() - started

    assert (result.status, result.error) == ("fail", "timed out after 0.5 s")
    assert elapsed < 0.5 + SLACK_S


@EVERY_PROBE
async def test_probe_fails_fast_without_the_password_when_nothing_listens(probe: Probe, engine_on) -> None:
    engine = engine_on(f"postgresql://erp:{PASSWORD}@127.0.0.1:1/erp")
    result = await probe(engine, 2.0)

    assert result.status == "fail"
    assert result.error is not None
    assert "ConnectionRefusedError" in result.error
    assert result.error.endswith("(127.0.0.1:1)")
    assert PASSWORD not in result.error


async def test_combined_probe_fails_migrations_too_when_the_database_is_unreachable(engine_on) -> None:
    engine = engine_on("postgresql://erp@127.0.0.1:1/erp")
    database, migrations = await probe_database_and_migrations(engine, timeout=2.0)

    assert database.status == migrations.status == "fail"
    assert migrations.error == "database unavailable"


async def test_a_missing_database_is_named_by_the_drivers_error(admin_url: str, engine_on) -> None:
    engine = engine_on(str(make_url(admin_url).set(database="erp_db_no_such_database")))
    result = await probe_database(engine, timeout=2.0)

    assert result.error == 'InvalidCatalogNameError: database "erp_db_no_such_database" does not exist'
