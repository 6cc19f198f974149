"""The relay: committed outbox rows become queue jobs (docs/contract.md §14).

A request writes its job into ``outbox_jobs`` in its own transaction; this
loop, in every worker, picks committed rows not yet relayed (``FOR UPDATE
SKIP LOCKED``, so two workers never take the same row), defers one
procrastinate job per row with the row id as both argument and
``queueing_lock`` (one statement per batch), and marks the rows relayed in
the same transaction. A crash between the two leaves the rows unrelayed: the next pass defers them
again, the queueing lock refuses a duplicate still waiting, and a duplicate
that slips through finds the row completed and does nothing. A worker that
was down at commit time relays the backlog when it starts.

The same loop keeps ``outbox_pending`` and ``jobs_failed`` current and hands
stalled jobs (their worker stopped sending heartbeats: killed, frozen, cut
off) back to the queue with the engine's own ``retry_job``.

It also refreshes the planner's statistics of the queue's jobs table after
every ``ANALYZE_AFTER_JOBS`` jobs it relays. Those statistics are
autovacuum's to keep, and it looks once a minute, after a tenth of the
rows changed. A queue that goes from empty to thousands of jobs within
seconds (a burst of invitations) is meanwhile planned as the near-empty
table it was, and procrastinate's fetch, one at a time per worker, then
reads and sorts every waiting job to take one: 5.6 ms with 5,800 waiting,
against 0.1 ms through its priority index once analysed (``nox -s bench``
measured both plans; ``ANALYZE`` itself took 30 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from procrastinate import App
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import JobDeferrer
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from erp_core import describe_error
from erp_db import OutboxJob, session_scope
from erp_worker.jobs import OUTBOX_JOBS
from erp_worker.metrics import WorkerMetrics
from erp_worker.queue_app import QUEUE_SCHEMA

logger = logging.getLogger(__name__)

RELAY_BATCH_SIZE = 100
# About a millisecond of sorting per fetch, were the planner to go on believing the queue empty.
ANALYZE_AFTER_JOBS = 1000
# The gauges count rows: fresh enough for a scrape every 15 s, cheap at a pass every 0.5 s.
GAUGE_INTERVAL_S = 5.0


async def relay_once(app: App, sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Relay at most one batch of committed rows; returns how many were relayed."""
    async with session_scope(sessionmaker) as session:
        rows = (
            await session.execute(
                select(OutboxJob.id, OutboxJob.job)
                .where(OutboxJob.relayed_at.is_(None))
                .order_by(OutboxJob.created_at)
                .limit(RELAY_BATCH_SIZE)
                .with_for_update(skip_locked=True)
            )
        ).all()
        now = datetime.now(UTC)
        deferrers: list[tuple[JobDeferrer, str]] = []
        for outbox_id, job in rows:
            if job not in OUTBOX_JOBS:
                logger.error(
                    "outbox job of an unknown kind kept as failed", extra={"outbox_id": str(outbox_id)}
                )
                await session.execute(
                    update(OutboxJob)
                    .where(OutboxJob.id == outbox_id)
                    .values(failed_at=now, last_error=f"unknown job {job[:64]!r}")
                )
                continue
            deferrers.append((app.configure_task(job, queueing_lock=f"outbox:{outbox_id}"), str(outbox_id)))
        await _defer(app, deferrers)
        if rows:
            await session.execute(
                update(OutboxJob).where(OutboxJob.id.in_([row.id for row in rows])).values(relayed_at=now)
            )
    return len(rows)


async def _defer(app: App, deferrers: list[tuple[JobDeferrer, str]]) -> None:
    """Defer the batch in one statement.

    If one job of it is already waiting (a previous pass deferred it, then
    crashed before marking it), the engine refuses the whole batch: then each
    is deferred on its own, and the waiting one is left as it is.
    """
    if not deferrers:
        return
    jobs = [deferrer.make_new_job(outbox_id=outbox_id) for deferrer, outbox_id in deferrers]
    try:
        await app.job_manager.batch_defer_jobs_async(jobs)
    except AlreadyEnqueued:
        for deferrer, outbox_id in deferrers:
            with contextlib.suppress(AlreadyEnqueued):
                await deferrer.defer_async(outbox_id=outbox_id)


async def refresh_gauges(
    app: App, sessionmaker: async_sessionmaker[AsyncSession], metrics: WorkerMetrics
) -> None:
    """Set ``outbox_pending`` and ``jobs_failed`` from the database."""
    async with session_scope(sessionmaker) as session:
        pending = await session.scalar(
            select(func.count())
            .select_from(OutboxJob)
            .where(OutboxJob.completed_at.is_(None), OutboxJob.failed_at.is_(None))
        )
    metrics.outbox_pending.set(pending or 0)
    row = await app.connector.execute_query_one_async(
        "SELECT count(*) AS failed FROM procrastinate_jobs WHERE status = 'failed'"
    )
    metrics.jobs_failed.set(row["failed"])


async def retry_stalled_jobs(app: App, *, seconds_since_heartbeat: float) -> int:
    """Requeue the jobs of workers silent for ``seconds_since_heartbeat``; returns how many."""
    stalled = list(await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat))
    for job in stalled:
        logger.warning("stalled job requeued", extra={"job_id": job.id, "job": job.task_name})
        await app.job_manager.retry_job(job)
    await app.job_manager.prune_stalled_workers(seconds_since_heartbeat=seconds_since_heartbeat)
    return len(stalled)


async def analyze_queue(app: App) -> None:
    """Refresh the planner's statistics of the queue's jobs table (see the module's docstring).

    ``SKIP_LOCKED``: while autovacuum or another worker holds the table's
    lock, this one is skipped rather than waited for (a wait would also
    cancel autovacuum's vacuum of the table). A failure is logged: the relay
    goes on, and the next 1,000 jobs try again.
    """
    try:
        await app.connector.execute_query_async(f"ANALYZE (SKIP_LOCKED) {QUEUE_SCHEMA}.procrastinate_jobs")
    except Exception as exc:
        logger.warning("queue statistics not refreshed", extra={"error": describe_error(exc)})


async def relay_forever(
    app: App,
    sessionmaker: async_sessionmaker[AsyncSession],
    metrics: WorkerMetrics,
    *,
    interval_s: float,
    stalled_after_s: float,
) -> None:
    """Relay, refresh the gauges and requeue stalled jobs every ``interval_s`` until cancelled.

    A failing pass (database down) is logged and tried again at the next
    interval: the rows wait in the outbox, nothing is lost.
    """
    gauges_due = 0.0
    relayed_since_analyze = 0
    while True:
        try:
            while True:
                relayed = await relay_once(app, sessionmaker)
                relayed_since_analyze += relayed
                if relayed_since_analyze >= ANALYZE_AFTER_JOBS:
                    relayed_since_analyze = 0
                    await analyze_queue(app)
                if relayed < RELAY_BATCH_SIZE:
                    break
            await retry_stalled_jobs(app, seconds_since_heartbeat=stalled_after_s)
            if time.monotonic() >= gauges_due:
                await refresh_gauges(app, sessionmaker, metrics)
                gauges_due = time.monotonic() + GAUGE_INTERVAL_S
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("outbox relay pass failed; retrying", extra={"error": describe_error(exc)})
        await asyncio.sleep(interval_s)
