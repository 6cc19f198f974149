"""create_engine: bounded, named connections that survive a server dropping them."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from erp_core.testing import settings_from_env
from erp_db.engine import (
    PGBOUNCER_OPTION,
    create_engine,
    create_sessionmaker,
    engine_from_settings,
    pgbouncer_connect_args,
)
from erp_db.settings import DatabaseSettings


async def test_creating_an_engine_opens_no_connection() -> None:
    # Nothing listens on port 1: creating (and disposing) must still succeed at once.
    engine = create_engine("postgresql://erp:pw@127.0.0.1:1/erp", application_name="erp-test")

    assert engine.pool.checkedout() == 0
    await engine.dispose()


async def test_connections_show_the_application_name_in_pg_stat_activity(erp_db_url: str) -> None:
    engine = create_engine(erp_db_url, application_name="erp-db-engine-test")
    try:
        async with engine.connect() as connection:
            name = await connection.scalar(
                text("SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()")
            )
    finally:
        await engine.dispose()

    assert name == "erp-db-engine-test"


async def test_an_idle_connection_killed_by_the_server_is_replaced_at_checkout(
    erp_db_url: str, open_connection
) -> None:
    engine = create_engine(
        erp_db_url,
        application_name="erp-db-idle-ping-test",
        pool_size=1,
        max_overflow=0,
        ping_after_idle_s=0.2,
    )
    admin = await open_connection(erp_db_url)
    try:
        async with engine.connect() as connection:
            killed_pid = await connection.scalar(text("SELECT pg_backend_pid()"))
        assert await admin.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed_pid})
        await asyncio.sleep(0.4)  # idle past the threshold: pinged, found dead, replaced

        async with engine.connect() as connection:
            new_pid = await connection.scalar(text("SELECT pg_backend_pid()"))
    finally:
        await engine.dispose()

    assert new_pid != killed_pid


async def test_a_connection_in_steady_use_is_not_pinged(erp_db_url: str) -> None:
    # The ping is a round trip (BEGIN; ROLLBACK on asyncpg): counted by wrapping the dialect's own.
    engine = create_engine(erp_db_url, application_name="erp-db-no-ping-test", pool_size=1, max_overflow=0)
    dialect = engine.sync_engine.dialect
    pings = []
    real_ping = dialect.do_ping

    def counted_ping(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)

    dialect.do_ping = counted_ping  # type: ignore[method-assign]
    try:
        for _ in range(20):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()

    assert pings == []


async def test_a_connection_killed_in_use_fails_once_then_the_pool_recovers(
    erp_db_url: str, open_connection
) -> None:
    engine = create_engine(erp_db_url, application_name="erp-db-in-use-test", pool_size=2, max_overflow=0)
    admin = await open_connection(erp_db_url)
    try:
        async with engine.connect() as connection:
            killed_pid = await connection.scalar(text("SELECT pg_backend_pid()"))
        assert await admin.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed_pid})

        with pytest.raises(DBAPIError) as failed:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        assert failed.value.connection_invalidated
        async with engine.connect() as connection:
            new_pid = await connection.scalar(text("SELECT pg_backend_pid()"))
    finally:
        await engine.dispose()

    assert new_pid != killed_pid


async def test_a_query_longer_than_the_command_timeout_is_cut_short(erp_db_url: str) -> None:
    engine = create_engine(erp_db_url, application_name="erp-db-timeout-test", command_timeout=0.3)
    started = time.perf_counter()
    try:
        async with engine.connect() as connection:
            with pytest.raises(TimeoutError):
                await connection.execute(text("SELECT pg_sleep(5)"))
    finally:
        await engine.dispose()

    assert time.perf_counter() - started < 3


async def test_engine_from_settings_applies_the_pool_bounds() -> None:
    env = {
        "DATABASE_URL": "postgres://erp:pw@127.0.0.1:1/erp",
        "DATABASE_POOL_SIZE": "7",
        "DATABASE_MAX_OVERFLOW": "3",
        "DATABASE_POOL_TIMEOUT_S": "1.5",
    }
    engine = engine_from_settings(settings_from_env(DatabaseSettings, env), application_name="erp-test")

    assert engine.url.drivername == "postgresql+asyncpg"
    assert engine.pool.size() == 7  # type: ignore[attr-defined]
    assert engine.pool._max_overflow == 3  # type: ignore[attr-defined]
    assert engine.pool.timeout() == 1.5  # type: ignore[attr-defined]
    await engine.dispose()


async def test_pgbouncer_mode_turns_the_statement_caches_off_and_names_statements(erp_db_url: str) -> None:
    arguments = pgbouncer_connect_args()
    names = {arguments["prepared_statement_name_func"]() for _ in range(100)}
    env = {"DATABASE_URL": erp_db_url, "DATABASE_PGBOUNCER": "true"}
    engine = engine_from_settings(settings_from_env(DatabaseSettings, env), application_name="erp-test")
    try:
        async with engine.begin() as connection:
            assert await connection.scalar(text("SELECT CAST(:n AS int) + 1"), {"n": 1}) == 2
    finally:
        await engine.dispose()

    assert (arguments["statement_cache_size"], arguments["prepared_statement_cache_size"]) == (0, 0)
    assert len(names) == 100
    assert engine.get_execution_options()[PGBOUNCER_OPTION] is True


async def test_sessions_keep_their_objects_loaded_after_commit(erp_db_engine) -> None:
    sessionmaker = create_sessionmaker(erp_db_engine)

    async with sessionmaker() as session:
        assert session.sync_session.expire_on_commit is False
        assert session.bind is erp_db_engine
