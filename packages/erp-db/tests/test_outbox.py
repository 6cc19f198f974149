"""erp_db.enqueue_job and outbox_insert: the outbox row goes with the caller's transaction, once per key."""

from __future__ import annotations

import uuid

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from erp_db import OutboxJob, enqueue_job, outbox_insert


async def test_a_job_is_recorded_in_the_callers_transaction(erp_db_session: AsyncSession) -> None:
    key = f"test:{uuid.uuid4()}"
    recorded = await enqueue_job(
        erp_db_session, job="example", payload={"n": 1}, idempotency_key=key, request_id="req-1"
    )
    row = (
        await erp_db_session.execute(select(OutboxJob).where(OutboxJob.idempotency_key == key))
    ).scalar_one()
    assert recorded
    assert (row.job, row.payload, row.request_id) == ("example", {"n": 1}, "req-1")
    assert (row.relayed_at, row.completed_at, row.failed_at, row.attempts) == (None, None, None, 0)


async def test_the_same_idempotency_key_records_one_row(erp_db_session: AsyncSession) -> None:
    key = f"test:{uuid.uuid4()}"
    first = await enqueue_job(erp_db_session, job="example", payload={}, idempotency_key=key, request_id=None)
    second = await enqueue_job(
        erp_db_session, job="example", payload={}, idempotency_key=key, request_id=None
    )
    count = await erp_db_session.scalar(
        select(func.count()).select_from(OutboxJob).where(OutboxJob.idempotency_key == key)
    )
    assert (first, second, count) == (True, False, 1)


async def test_a_rolled_back_transaction_leaves_no_job(erp_db_engine: AsyncEngine) -> None:
    key = f"test:{uuid.uuid4()}"
    async with AsyncSession(erp_db_engine) as session:
        await enqueue_job(session, job="example", payload={}, idempotency_key=key, request_id=None)
        await session.rollback()
    async with AsyncSession(erp_db_engine) as session:
        count = await session.scalar(
            select(func.count()).select_from(OutboxJob).where(OutboxJob.idempotency_key == key)
        )
    assert count == 0


async def test_an_outbox_insert_rides_as_a_cte_of_a_statement_that_never_reads_it(
    erp_db_session: AsyncSession,
) -> None:
    key = f"test:{uuid.uuid4()}"
    job = outbox_insert(job="example", payload={"n": 2}, idempotency_key=key, request_id="req-2")
    statement = select(literal(1)).add_cte(job.cte("outbox_job"))
    first = await erp_db_session.scalar(statement)
    second = await erp_db_session.scalar(statement)
    rows = (
        await erp_db_session.execute(select(OutboxJob.payload).where(OutboxJob.idempotency_key == key))
    ).all()
    assert (first, second) == (1, 1)
    assert [row.payload for row in rows] == [{"n": 2}]


def test_repr_never_shows_the_payload() -> None:
    job = OutboxJob(id=uuid.uuid4(), job="invitation.mail", payload={"token": "s3cret"})
    assert "s3cret" not in repr(job)
