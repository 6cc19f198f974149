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

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import psycopg
import psycopg_pool
from psycopg.pq import TransactionStatus
from sqlalchemy import Table, Text, bindparam, cast, func, select, update
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect

from erp_db import OutboxJob
from erp_worker.queue_app import check_if_idle

_OUTBOX: Final[Table] = OutboxJob.__table__  # type: ignore[assignment]
_DIALECT: Final = psycopg_dialect.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it unannotated
_LOCK = (
    select(_OUTBOX.c.payload, _OUTBOX.c.completed_at, _OUTBOX.c.failed_at, _OUTBOX.c.request_id)
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
    """What a delivery reads of its row, under the row's lock.

    ``settled``: completed, or failed for good (``erp-worker jobs retry``
    clears that before it requeues the job): a delivery of it does nothing.
    """

    payload: dict[str, Any]
    settled: bool
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

    def __init__(
        self,
        conninfo: str,
        *,
        application_name: str,
        max_connections: int,
        prepare: bool = True,
        timeout_s: float = 30.0,
    ):
        self.timeout_s = timeout_s
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

        The block ends in a commit of the row completed when it called
        ``complete()`` (the ``UPDATE`` and ``COMMIT`` go out together), else
        in a commit of nothing (the lock released: a ``ROLLBACK`` would make
        psycopg drop its prepared statements); when the block or the commit
        fails, or is cancelled, in a rollback. Each round trip is bounded by
        ``timeout_s``, as erp-db's engine bounds a statement. The connection
        leaves pipeline mode between the two, so that while the work runs
        the server sees the session idle in its transaction.
        """
        async with self._pool.connection() as connection:
            try:
                async with asyncio.timeout(self.timeout_s):
                    async with connection.pipeline():
                        await connection.execute("BEGIN")
                        cursor = await connection.execute(LOCK_SQL, {**_LOCK_PARAMS, "outbox_id": outbox_id})
                    record = await cursor.fetchone()  # both went out with the pipeline's end: one round trip
                claim = Claim(
                    None
                    if record is None
                    else OutboxRow(
                        payload=record[0],
                        settled=record[1] is not None or record[2] is not None,
                        request_id=record[3],
                    )
                )
                yield claim
                async with asyncio.timeout(self.timeout_s), connection.pipeline():
                    if claim.completing:
                        await connection.execute(COMPLETE_SQL, {**_COMPLETE_PARAMS, "outbox_id": outbox_id})
                    await connection.execute("COMMIT")
            finally:
                if not connection.closed and connection.info.transaction_status != TransactionStatus.IDLE:
                    # Not to replace the block's own error: the pool discards a connection it cannot reset.
                    with contextlib.suppress(psycopg.Error):
                        await connection.rollback()
