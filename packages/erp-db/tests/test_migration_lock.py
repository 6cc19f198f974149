"""The migration lock: an upgrade waits while another run holds it, and lets go when done."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select, text

from erp_db.migration_lock import MIGRATION_LOCK_KEY
from erp_db.schema_migrations import current_revisions, shipped_head, upgrade


async def test_upgrade_waits_for_the_lock_and_proceeds_once_it_is_released(
    empty_database: str, migration_lock_holder, open_connection
) -> None:
    holder = await migration_lock_holder(empty_database)
    await holder.hold()
    upgrading = asyncio.ensure_future(asyncio.to_thread(upgrade, empty_database))
    try:
        await holder.wait_for_waiters(1)
        await asyncio.sleep(0.3)
        observer = await open_connection(empty_database)

        assert not upgrading.done()
        assert await observer.scalar(text("SELECT to_regclass('alembic_version')")) is None
    finally:
        await holder.release()
    await asyncio.wait_for(upgrading, timeout=30)

    assert await asyncio.to_thread(current_revisions, empty_database) == (shipped_head(),)


async def test_the_lock_is_free_again_after_an_upgrade(empty_database: str, open_connection) -> None:
    await asyncio.to_thread(upgrade, empty_database)
    other = await open_connection(empty_database)

    assert await other.scalar(select(func.pg_try_advisory_lock(MIGRATION_LOCK_KEY))) is True
    await other.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))


def test_the_lock_key_is_fixed() -> None:
    # Changing it would let an old and a new release migrate at the same time.
    assert MIGRATION_LOCK_KEY == int.from_bytes(b"erp-db", "big") == 0x6572702D6462
