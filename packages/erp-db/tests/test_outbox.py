"""enqueue_job, outbox_insert, OUTBOX_INSERT: the outbox row rides in the caller's transaction, once a key."""

from __future__ import annotations

import uuid

from sqlalchemy import Uuid, bindparam, func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from erp_db import OUTBOX_INSERT, OutboxJob, enqueue_job, outbox_insert, outbox_params


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


async def test_the_statement_built_once_takes_each_jobs_parameters_beside_the_outer_statements(
    erp_db_session: AsyncSession,
) -> None:
    # One statement object, as a route keeps it at import; its own "id" parameter beside the job's.
    statement = select(bindparam("id", type_=Uuid)).add_cte(OUTBOX_INSERT.cte("outbox_job"))
    keys = [f"test:{uuid.uuid4()}" for _ in range(3)]
    for number, key in enumerate([*keys, keys[0]]):  # the last one repeats a key: no second row
        params = outbox_params(
            job="example", payload={"n": number}, idempotency_key=key, request_id=f"req-{number}"
        )
        outer_id = uuid.uuid4()
        assert await erp_db_session.scalar(statement, {"id": outer_id, **params}) == outer_id
    rows = (
        await erp_db_session.execute(
            select(OutboxJob.idempotency_key, OutboxJob.payload, OutboxJob.request_id, OutboxJob.attempts)
            .where(OutboxJob.idempotency_key.in_(keys))
            .order_by(OutboxJob.request_id)
        )
    ).all()
    assert [tuple(row) for row in rows] == [(key, {"n": n}, f"req-{n}", 0) for n, key in enumerate(keys)]


def test_repr_never_shows_the_payload() -> None:
    job = OutboxJob(id=uuid.uuid4(), job="invitation.mail", payload={"token": "s3cret"})
    assert "s3cret" not in repr(job)
