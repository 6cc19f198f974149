"""upgrade, downgrade, current and check against real databases."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from alembic.util import CommandError
from sqlalchemy import text

from erp_db.errors import SchemaDriftError
from erp_db.migration_commands import _describe_diff, check, current, downgrade, upgrade
from erp_db.migrations_config import shipped_head

EXTRA_VERSIONS = Path(__file__).parent / "extra_versions"


async def test_a_fresh_database_round_trips_up_down_and_up_again(empty_database: str) -> None:
    assert await asyncio.to_thread(current, empty_database) == ()

    await asyncio.to_thread(upgrade, empty_database)
    assert await asyncio.to_thread(current, empty_database) == (shipped_head(),)

    await asyncio.to_thread(downgrade, empty_database, "base")
    assert await asyncio.to_thread(current, empty_database) == ()

    await asyncio.to_thread(upgrade, empty_database, "head")
    assert await asyncio.to_thread(current, empty_database) == (shipped_head(),)


async def test_upgrade_called_from_a_coroutine_still_works(empty_database: str) -> None:
    # Blocks the loop meanwhile (to_thread is the polite way), but must not fail.
    upgrade(empty_database)

    assert await asyncio.to_thread(current, empty_database) == (shipped_head(),)


async def test_check_passes_when_the_models_match_the_migrations(erp_db_url: str) -> None:
    await asyncio.to_thread(check, erp_db_url)


async def test_check_refuses_a_database_that_is_not_at_head(empty_database: str) -> None:
    with pytest.raises(CommandError, match="not up to date"):
        await asyncio.to_thread(check, empty_database)


def test_drift_is_summarised_by_operation_and_name() -> None:
    class Named:
        def __init__(self, name: str) -> None:
            self.name = name

    diffs = [
        ("add_table", Named("customers")),
        ("add_column", None, "orders", Named("note")),
        [("modify_nullable", None, "orders", "total", {}, False, True)],
    ]

    assert [_describe_diff(diff) for diff in diffs] == [
        "add_table customers",
        "add_column orders.note",
        "modify_nullable orders.total",
    ]
    assert issubclass(SchemaDriftError, Exception)


async def test_concurrent_upgrades_apply_each_migration_once(
    empty_database: str, commands, migration_lock_holder, open_connection
) -> None:
    # Two processes migrate with the shipped versions plus a test-only
    # revision that records every run of itself. The test holds the lock until
    # both wait for it, so they truly race when it is released.
    code = (
        "import os, sys\n"
        "from importlib import resources\n"
        "from alembic import command\n"
        "from erp_db.migrations_config import alembic_config\n"
        "config = alembic_config(os.environ['URL'])\n"
        "shipped = resources.files('erp_db') / 'migrations' / 'versions'\n"
        "config.set_main_option('version_locations', os.pathsep.join([str(shipped), sys.argv[1]]))\n"
        "command.upgrade(config, 'heads')\n"
    )
    env = {"URL": empty_database, "ERP_DB_TEST_DOWN_REVISION": shipped_head()}
    holder = await migration_lock_holder(empty_database)
    await holder.hold()
    runs = [commands.start(sys.executable, "-c", code, str(EXTRA_VERSIONS), env=env) for _ in range(2)]
    try:
        await holder.wait_for_waiters(2)
    finally:
        await holder.release()
    outcomes = [await asyncio.to_thread(run.communicate, timeout=60) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outcomes
    database = await open_connection(empty_database)
    assert await database.scalar(text("SELECT count(*) FROM migration_runs")) == 1
    assert list(await database.scalars(text("SELECT version_num FROM alembic_version"))) == ["a99e5700000e"]
