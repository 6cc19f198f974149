"""The advisory lock that makes concurrent ``erp-db upgrade`` runs take turns.

Several replicas may start at once and each run the migrations. Each run
first takes a session-level PostgreSQL advisory lock on its migration
connection and keeps it until the migrations are done, so the others wait,
then find the database at head and have nothing left to apply: every
migration runs exactly once. Advisory locks are per database, so runs
against different databases never wait for each other.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Final

from sqlalchemy import Connection, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

logger = logging.getLogger(__name__)

# The bytes of "erp-db" read as a big-endian integer (0x6572702d6462): fixed
# forever, documented in the README, so an operator can see the holder with
# ``SELECT * FROM pg_locks WHERE locktype = 'advisory' AND classid = 25970 AND objid = 1882023010``
# (PostgreSQL shows a bigint key as classid = high 32 bits, objid = low 32 bits).
MIGRATION_LOCK_KEY: Final = 0x6572702D6462


@contextlib.asynccontextmanager
async def migration_lock(connection: AsyncConnection) -> AsyncIterator[None]:
    """Hold :data:`MIGRATION_LOCK_KEY` on ``connection`` for the block, waiting as long as it takes.

    The lock belongs to the server session, not to a transaction, so the
    block may commit as often as it likes. It is released when the block
    ends normally. When the block raises, no release is attempted: the
    connection may be broken, and a failed unlock would hide the real error.
    Close such a connection (the migration engine uses ``NullPool``, where
    closing ends the session); PostgreSQL releases the lock with the session.
    """
    if not await connection.scalar(select(func.pg_try_advisory_lock(MIGRATION_LOCK_KEY))):
        logger.info(
            "waiting for the migration lock (advisory lock %d): another run holds it", MIGRATION_LOCK_KEY
        )
        await connection.execute(select(func.pg_advisory_lock(MIGRATION_LOCK_KEY)))
    await connection.commit()
    yield
    await connection.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
    await connection.commit()


def take_transaction_lock(connection: Connection) -> None:
    """Wait for :data:`MIGRATION_LOCK_KEY` and hold it until ``connection``'s transaction ends.

    The lock for PgBouncer's transaction pooling, where a session lock would
    stay with whichever server connection took it while the next statement
    goes to another. The migrations run in one transaction, so it covers
    them all; a migration that commits midway (an ``autocommit_block``)
    releases it there.
    """
    if not connection.scalar(select(func.pg_try_advisory_xact_lock(MIGRATION_LOCK_KEY))):
        logger.info(
            "waiting for the migration lock (advisory lock %d): another run holds it", MIGRATION_LOCK_KEY
        )
        connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
