"""The relay after a burst: the queue's statistics refreshed, so a fetch takes one job, not a sort of all."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any, cast

from procrastinate import App, PsycopgConnector
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from erp_db import OutboxJob
from erp_worker import INVITATION_MAIL_JOB, WorkerMetrics
from erp_worker.outbox_relay import ANALYZE_AFTER_JOBS, relay_forever

from .conftest import eventually

# procrastinate's fetch, as its function runs it, with the worker's queues.
FETCH_CANDIDATE = """
EXPLAIN SELECT jobs.id FROM procrastinate_jobs AS jobs
WHERE NOT EXISTS (
    SELECT 1 FROM procrastinate_jobs AS other_jobs
    WHERE jobs.lock IS NOT NULL AND other_jobs.lock = jobs.lock
      AND (other_jobs.status = 'doing' OR (other_jobs.status = 'todo' AND (other_jobs.priority > jobs.priority
           OR (other_jobs.priority = jobs.priority AND other_jobs.id < jobs.id)))))
  AND jobs.status = 'todo' AND jobs.queue_name = ANY(ARRAY['default', 'mail'])
  AND (jobs.scheduled_at IS NULL OR jobs.scheduled_at <= now())
ORDER BY jobs.priority DESC, jobs.id ASC LIMIT 1 FOR UPDATE OF jobs SKIP LOCKED
"""


async def _analyzed_count(app: App) -> int:
    row = await app.connector.execute_query_one_async(
        "SELECT analyze_count FROM pg_stat_user_tables "
        "WHERE schemaname = 'procrastinate' AND relname = 'procrastinate_jobs'"
    )
    return int(row["analyze_count"])


async def _fetch_plan(app: App) -> str:
    connector = cast(PsycopgConnector, app.connector)
    async with connector.pool.connection() as connection:
        cursor = await connection.execute(FETCH_CANDIDATE)
        return "\n".join(str(row[0]) for row in await cursor.fetchall())


async def test_a_burst_of_relayed_jobs_refreshes_the_queue_statistics(
    queue_app: App, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    analyzed_before = await _analyzed_count(queue_app)
    burst = [uuid.uuid4() for _ in range(ANALYZE_AFTER_JOBS)]
    rows: list[dict[str, Any]] = [
        {
            "id": outbox_id,
            "job": INVITATION_MAIL_JOB,
            "payload": {"invitation_id": str(outbox_id), "email": "burst@example.org", "token": "t"},
            "idempotency_key": f"burst:{outbox_id}",
        }
        for outbox_id in burst
    ]
    async with sessionmaker.begin() as session:
        await session.execute(insert(OutboxJob), rows)
    relay = asyncio.create_task(
        relay_forever(queue_app, sessionmaker, WorkerMetrics(), interval_s=0.05, stalled_after_s=60)
    )
    try:

        async def analyzed() -> bool:
            return await _analyzed_count(queue_app) > analyzed_before

        await eventually(analyzed, what="the relay analysed the jobs table after the burst")
        plan = await _fetch_plan(queue_app)
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
        # The burst's jobs are no other test's: nobody is to mail them.
        await queue_app.connector.execute_query_async(
            "DELETE FROM procrastinate_jobs WHERE args->>'outbox_id' = ANY(%(ids)s)",
            ids=[str(outbox_id) for outbox_id in burst],
        )
        async with sessionmaker.begin() as session:
            await session.execute(delete(OutboxJob).where(OutboxJob.id.in_(burst)))
    # The waiting jobs are read in the priority index's order, the first one taken: no sort of them all.
    assert "procrastinate_jobs_priority_idx_v1" in plan, plan
    assert "Sort" not in plan, plan
