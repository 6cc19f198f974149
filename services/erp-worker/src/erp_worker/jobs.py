"""The jobs of this release, registered on a procrastinate ``App`` (docs/contract.md §14).

- ``invitation.mail`` (queue ``mail``): one argument, the outbox row's id.
  Arguments are stored in procrastinate's table and printed in its log
  lines, so the payload (with its token) stays in the outbox row and is read
  here. The row is locked (``FOR UPDATE``) while the mail goes out, so a
  second delivery of the same job waits, then finds the row
  ``completed_at`` and does nothing (and a job that starts before the
  relay's transaction commits waits for that commit). Success erases the token from the
  payload in the same transaction that marks the row completed.
- ``purge`` (queue ``default``): :func:`erp_worker.purge.purge_expired`.
  procrastinate's ``lock`` runs one purge at a time across every worker, and
  its ``queueing_lock`` keeps at most one waiting; each run schedules the
  next ``PURGE_INTERVAL_S`` later with the engine's ``schedule_in``
  (procrastinate's periodic tasks take cron expressions, which cannot say
  "every N seconds" for every N).
- ``purge.arm`` (procrastinate's periodic task, every minute, deferred once
  across all workers): asks for a purge ``PURGE_INTERVAL_S`` from now unless
  one is waiting. A purge that could not schedule its successor (the
  database down at that moment) would otherwise end the chain until a
  worker restarted; with it, the purge resumes within a minute and an
  interval.

Retries are the engine's: ``RetryStrategy`` with exponential backoff, up to
``JOB_MAX_ATTEMPTS`` tries, then the job is kept as ``failed``; the outbox row
records the attempts and the last error (a :class:`JobFailed` message, or
only an exception's type name).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from procrastinate import App, JobContext, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from erp_core import bind_request_id
from erp_db import OutboxJob, session_scope
from erp_worker.errors import JobFailed
from erp_worker.invitation_mail import InvitationMailer
from erp_worker.job_logging import bind_job_id
from erp_worker.metrics import WorkerMetrics
from erp_worker.outbox_rows import OutboxRows
from erp_worker.purge import DEFAULT_BATCH_SIZE, purge_expired

logger = logging.getLogger(__name__)

INVITATION_MAIL_JOB: Final = "invitation.mail"
PURGE_JOB: Final = "purge"
PURGE_ARM_JOB: Final = "purge.arm"
PURGE_ARM_CRON: Final = "* * * * *"
MAIL_QUEUE: Final = "mail"
DEFAULT_QUEUE: Final = "default"
# The outbox jobs this release knows; the relay refuses any other name.
OUTBOX_JOBS: Final = frozenset({INVITATION_MAIL_JOB})
LAST_ERROR_LIMIT: Final = 500


@dataclass(frozen=True, slots=True)
class JobSettings:
    """What the jobs need, passed in explicitly (the library reads no settings)."""

    sessionmaker: async_sessionmaker[AsyncSession]
    outbox: OutboxRows
    metrics: WorkerMetrics
    mailer: InvitationMailer | None
    max_attempts: int
    purge_interval_s: int
    purge_retention_s: int
    purge_batch_size: int = DEFAULT_BATCH_SIZE
    # Base of the exponential backoff: the n-th retry waits retry_base_s ** n seconds.
    retry_base_s: int = 2


def safe_error(exc: BaseException) -> str:
    """What may be stored and shown of a failure: our own message, else only the exception's type."""
    text = str(exc) if isinstance(exc, JobFailed) else type(exc).__name__
    return text[:LAST_ERROR_LIMIT]


def register_jobs(app: App, config: JobSettings) -> None:
    """Register ``invitation.mail`` and ``purge`` on ``app``."""
    # procrastinate counts retries after the first try, and reads max_attempts=0 as "no limit".
    retry: RetryStrategy | bool = (
        RetryStrategy(max_attempts=config.max_attempts - 1, exponential_wait=config.retry_base_s)
        if config.max_attempts > 1
        else False
    )

    async def invitation_mail(context: JobContext, outbox_id: str) -> None:
        mailer = config.mailer
        if mailer is None:  # only reachable through `jobs retry` on a worker without SMTP_HOST
            raise JobFailed("SMTP_HOST is not set")
        await run_outbox_job(config, context, uuid.UUID(outbox_id), INVITATION_MAIL_JOB, mailer.send)

    async def purge(context: JobContext) -> None:
        with bind_job_id(str(context.job.id)):
            started = time.perf_counter()
            try:
                await purge_expired(
                    config.sessionmaker,
                    retention_s=config.purge_retention_s,
                    batch_size=config.purge_batch_size,
                )
            except Exception as exc:
                config.metrics.jobs_total.labels(PURGE_JOB, "retried").inc()
                raise JobFailed(f"purge failed: {safe_error(exc)}") from None
            finally:
                config.metrics.job_duration_seconds.labels(PURGE_JOB).observe(time.perf_counter() - started)
                await schedule_purge(app, in_seconds=config.purge_interval_s)
            config.metrics.jobs_total.labels(PURGE_JOB, "succeeded").inc()

    app.task(name=INVITATION_MAIL_JOB, queue=MAIL_QUEUE, retry=retry, pass_context=True)(invitation_mail)
    app.task(
        name=PURGE_JOB,
        queue=DEFAULT_QUEUE,
        retry=retry,
        pass_context=True,
        lock=PURGE_JOB,
        queueing_lock=PURGE_JOB,
    )(purge)

    async def arm_purge(timestamp: int) -> None:
        await schedule_purge(app, in_seconds=config.purge_interval_s)

    app.periodic(cron=PURGE_ARM_CRON, periodic_id=PURGE_ARM_JOB)(
        app.task(name=PURGE_ARM_JOB, queue=DEFAULT_QUEUE, queueing_lock=PURGE_ARM_JOB)(arm_purge)
    )


async def schedule_purge(app: App, *, in_seconds: int = 0) -> bool:
    """Ask for a purge ``in_seconds`` from now, unless one is already waiting; ``True`` if asked."""
    try:
        await app.configure_task(PURGE_JOB, schedule_in={"seconds": in_seconds}).defer_async()
    except AlreadyEnqueued:
        return False
    return True


async def run_outbox_job(
    config: JobSettings,
    context: JobContext,
    outbox_id: uuid.UUID,
    job: str,
    handler: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """Run ``handler(payload)`` for one outbox row, once: skipped if done, completed and scrubbed if not."""
    job_id = str(context.job.id)
    started = time.perf_counter()
    request_id: str | None = None
    try:
        async with config.outbox.claim(outbox_id) as claim:
            row = claim.row
            request_id = row.request_id if row is not None else None
            with _request_context(request_id), bind_job_id(job_id):
                if row is None or row.settled:
                    # Done already (a second delivery of the job waited for the first's commit), failed
                    # for good (its final failure recorded, the queue's own record of it lost), or purged.
                    logger.info(
                        "outbox job skipped: done, failed for good, or purged",
                        extra={"outbox_id": str(outbox_id)},
                    )
                    config.metrics.jobs_total.labels(job, "skipped").inc()
                    return
                await handler(dict(row.payload))
                claim.complete()
        with _request_context(request_id), bind_job_id(job_id):
            logger.info("outbox job done", extra={"outbox_id": str(outbox_id), "job": job})
    except Exception as exc:
        error = safe_error(exc)
        final = context.job.attempts + 1 >= config.max_attempts
        await _record_failure(config.sessionmaker, outbox_id, error, final=final)
        config.metrics.jobs_total.labels(job, "failed" if final else "retried").inc()
        with _request_context(request_id), bind_job_id(job_id):
            logger.warning(
                "outbox job failed",
                extra={"outbox_id": str(outbox_id), "job": job, "error": error, "final": final},
            )
        raise JobFailed(error) from None
    else:
        config.metrics.jobs_total.labels(job, "succeeded").inc()
    finally:
        config.metrics.job_duration_seconds.labels(job).observe(time.perf_counter() - started)


def _request_context(request_id: str | None) -> contextlib.AbstractContextManager[Any]:
    return bind_request_id(request_id) if request_id else contextlib.nullcontext()


async def _record_failure(
    sessionmaker: async_sessionmaker[AsyncSession], outbox_id: uuid.UUID, error: str, *, final: bool
) -> None:
    async with session_scope(sessionmaker) as session:
        await session.execute(
            update(OutboxJob)
            .where(OutboxJob.id == outbox_id)
            .values(
                attempts=OutboxJob.attempts + 1,
                last_error=error,
                failed_at=datetime.now(UTC) if final else None,
            )
        )
