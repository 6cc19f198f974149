"""The ledger of applied revisions: written by every upgrade, walked by older releases."""

from __future__ import annotations

import asyncio
import io

from alembic import command
from sqlalchemy import select

from erp_db.revision_ledger import LEDGER_TABLE, applied_revisions, descendants_of, include_object
from erp_db.schema_migrations import alembic_config, downgrade, script_directory, shipped_head, upgrade
from erp_db.testing import NEWER_RELEASE_REVISION, upgrade_as_newer_release


def shipped_parents() -> dict[str, list[str]]:
    return {
        script.revision: sorted(script._normalized_down_revisions)
        for script in script_directory().walk_revisions()
    }


async def test_an_upgrade_records_every_revision_with_its_parents(empty_database, open_connection) -> None:
    await asyncio.to_thread(upgrade, empty_database)

    connection = await open_connection(empty_database)
    rows = await connection.execute(select(applied_revisions.c.revision, applied_revisions.c.down_revisions))
    assert dict(rows.all()) == shipped_parents()


async def test_a_downgrade_forgets_the_revisions_it_removes(empty_database, open_connection) -> None:
    previous = shipped_parents()[shipped_head()][0]
    await asyncio.to_thread(upgrade, empty_database)
    await asyncio.to_thread(downgrade, empty_database, previous)

    connection = await open_connection(empty_database)
    recorded = set(await connection.scalars(select(applied_revisions.c.revision)))
    assert recorded == set(shipped_parents()) - {shipped_head()}


async def test_the_walk_finds_the_head_below_a_newer_revision(empty_database, open_connection) -> None:
    await asyncio.to_thread(upgrade_as_newer_release, empty_database)
    connection = await open_connection(empty_database)
    first = min(shipped_parents(), key=lambda revision: len(shipped_parents()[revision]))

    assert await descendants_of(connection, [NEWER_RELEASE_REVISION], shipped_head()) == {
        NEWER_RELEASE_REVISION
    }
    # Several links down, through every recorded parent.
    assert await descendants_of(connection, [NEWER_RELEASE_REVISION], first) == {NEWER_RELEASE_REVISION}
    assert await descendants_of(connection, ["0123456789ab"], shipped_head()) == frozenset()


def test_the_rendered_sql_records_the_revisions_too() -> None:
    out = io.StringIO()
    command.upgrade(alembic_config(stdout=out), "head", sql=True)

    rendered = out.getvalue()

    assert f"CREATE TABLE IF NOT EXISTS {LEDGER_TABLE}" in rendered
    assert f"VALUES ('{shipped_head()}', CAST(ARRAY[" in rendered


def test_autogenerate_and_check_leave_the_ledger_alone() -> None:
    assert not include_object(None, LEDGER_TABLE, "table", True, None)
    assert include_object(None, "users", "table", True, None)
    assert include_object(None, LEDGER_TABLE, "column", True, None)
