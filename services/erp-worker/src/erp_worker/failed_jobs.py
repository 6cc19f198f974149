"""``erp-worker jobs failed`` and ``jobs retry ID``: the engine's failed jobs, with the outbox's last error.

procrastinate keeps a job that used its last attempt as ``failed`` but not
why; the outbox row of an outbox job holds the reason (``last_error``, our
own words, never a secret). A retry is procrastinate's ``retry_job_by_id``
(one more attempt, now); the outbox row leaves its failed state with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from procrastinate import App
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from erp_db import OutboxJob, session_scope


@dataclass(frozen=True, slots=True)
class FailedJob:
    id: int
    job: str
    attempts: int
    outbox_id: str | None
    last_error: str | None


async def list_failed_jobs(app: App, sessionmaker: async_sessionmaker[AsyncSession]) -> list[FailedJob]:
    """Every failed job, oldest id first, with the outbox row's ``last_error`` where it has one."""
    jobs = sorted(await app.job_manager.list_jobs_async(status="failed"), key=lambda job: job.id or 0)
    outbox_ids = [_outbox_id(job.task_kwargs) for job in jobs]
    known = [uuid.UUID(value) for value in outbox_ids if value is not None]
    errors: dict[str, str | None] = {}
    if known:
        async with session_scope(sessionmaker) as session:
            rows = await session.execute(
                select(OutboxJob.id, OutboxJob.last_error).where(OutboxJob.id.in_(known))
            )
            errors = {str(row.id): row.last_error for row in rows}
    return [
        FailedJob(
            id=job.id or 0,
            job=job.task_name,
            attempts=job.attempts,
            outbox_id=outbox_id,
            last_error=errors.get(outbox_id) if outbox_id else None,
        )
        for job, outbox_id in zip(jobs, outbox_ids, strict=True)
    ]


async def retry_failed_job(app: App, sessionmaker: async_sessionmaker[AsyncSession], job_id: int) -> bool:
    """Requeue failed job ``job_id`` now; ``False`` when no failed job has that id."""
    found = list(await app.job_manager.list_jobs_async(id=job_id, status="failed"))
    if not found:
        return False
    outbox_id = _outbox_id(found[0].task_kwargs)
    if outbox_id is not None:
        # Before the job is requeued: a delivery skips a row still marked failed for good.
        async with session_scope(sessionmaker) as session:
            await session.execute(
                update(OutboxJob).where(OutboxJob.id == uuid.UUID(outbox_id)).values(failed_at=None)
            )
    await app.job_manager.retry_job_by_id_async(job_id, retry_at=datetime.now(UTC))
    return True


def _outbox_id(kwargs: Mapping[str, object]) -> str | None:
    value = kwargs.get("outbox_id")
    return value if isinstance(value, str) else None
