"""A delivery's hold on its outbox row: two round trips to PostgreSQL, in psycopg's pipeline mode.

An outbox job locks its row and reads it, does the work (sends the mail),
then marks the row completed and erases its token, all in one transaction:
a second delivery of the same job waits on the lock, then finds the row
completed (docs/contract.md §14). That is four statements: ``BEGIN``,
``SELECT … FOR UPDATE``, ``UPDATE``, ``COMMIT``. asyncpg sends a statement
and waits for its answer before the next, so through erp-db's engine they
were four round trips, each waiting its turn on a busy worker's event loop
and on a PostgreSQL backend; psycopg's pipeline mode sends ``BEGIN`` with
the ``SELECT``, and the ``UPDATE`` with the ``COMMIT``: two round trips.
``nox -s bench`` measured the job path's difference (the service README's
figures).

The statements are erp-db's table, compiled once for psycopg by SQLAlchemy,
so the model stays their single source. The pool is psycopg's, in
autocommit (the transaction is the explicit ``BEGIN`` … ``COMMIT`` here), one
connection per concurrent job; like the queue's, it checks a connection only
after it sat idle. Behind PgBouncer's transaction pooling (``DATABASE_PGBOUNCER``)
statements are not prepared, as erp-db's engine does there.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import psycopg_pool
from psycopg.pq import TransactionStatus
from sqlalchemy import Table, Text, bindparam, cast, func, select, update
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect

from erp_db import OutboxJob
from erp_worker.queue_app import check_if_idle

_OUTBOX: Final[Table] = OutboxJob.__table__  # type: ignore[assignment]
_DIALECT: Final = psycopg_dialect.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it unannotated
_LOCK = (
    select(_OUTBOX.c.payload, _OUTBOX.c.completed_at, _OUTBOX.c.request_id)
    .where(_OUTBOX.c.id == bindparam("outbox_id"))
    .with_for_update()
    .compile(dialect=_DIALECT)
)
_COMPLETE = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("outbox_id"))
    .values(
        payload=_OUTBOX.c.payload.op("-")(cast("token", Text)),  # jsonb - text: drop the key
        completed_at=func.now(),
        attempts=_OUTBOX.c.attempts + 1,
        last_error=None,
    )
    .compile(dialect=_DIALECT)
)
LOCK_SQL: Final = str(_LOCK)
COMPLETE_SQL: Final = str(_COMPLETE)
# The statements' own parameters (the literal "token", the attempt's increment), the row's id added per job.
_LOCK_PARAMS: Final = dict(_LOCK.params)
_COMPLETE_PARAMS: Final = dict(_COMPLETE.params)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """What a delivery reads of its row, under the row's lock."""

    payload: dict[str, Any]
    completed: bool
    request_id: str | None


class Claim:
    """One delivery's transaction on its row: ``row`` as read under the lock, and :meth:`complete`."""

    __slots__ = ("completing", "row")

    def __init__(self, row: OutboxRow | None):
        self.row = row
        self.completing = False

    def complete(self) -> None:
        """Mark the row completed and erase its token when the block ends without an error, and commit."""
        self.completing = True


class OutboxRows:
    """The outbox rows of running jobs, over a psycopg pool of ``max_connections``; ``open`` before use."""

    def __init__(self, conninfo: str, *, application_name: str, max_connections: int, prepare: bool = True):
        self._pool = psycopg_pool.AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_connections,
            kwargs={
                "autocommit": True,
                "application_name": application_name,
                "prepare_threshold": 5 if prepare else None,
            },
            check=check_if_idle,
            open=False,
        )

    async def open(self) -> None:
        await self._pool.open()

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def claim(self, outbox_id: uuid.UUID) -> AsyncIterator[Claim]:
        """Lock and read the row (``claim.row``; ``None`` once purged) for the block.

        The block ends in a commit when it called ``complete()`` (the
        ``UPDATE`` and ``COMMIT`` go out then, together), else, or when the
        commit failed, in a rollback: the row is as it was, unlocked.
        """
        async with self._pool.connection() as connection:
            try:
                async with connection.pipeline():
                    await connection.execute("BEGIN")
                    cursor = await connection.execute(LOCK_SQL, {**_LOCK_PARAMS, "outbox_id": outbox_id})
                    record = await cursor.fetchone()  # sends both, waits for both: one round trip
                    claim = Claim(
                        None
                        if record is None
                        else OutboxRow(
                            payload=record[0], completed=record[1] is not None, request_id=record[2]
                        )
                    )
                    yield claim
                    # The block ended without an error: its end goes out with the pipeline's (one round trip).
                    if claim.completing:
                        await connection.execute(COMPLETE_SQL, {**_COMPLETE_PARAMS, "outbox_id": outbox_id})
                        await connection.execute("COMMIT")
                    else:
                        await connection.execute("ROLLBACK")
            finally:
                # The block failed (or the commit did): nothing of it stays, and the row is unlocked.
                if not connection.closed and connection.info.transaction_status != TransactionStatus.IDLE:
                    await connection.rollback()
