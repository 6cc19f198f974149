"""The purge deletes only what has been done with for longer than the retention, in batches, one at a time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from procrastinate import App
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from erp_db import Invitation, Organization, RefreshToken, User
from erp_worker import (
    PURGE_JOB,
    JobSettings,
    OutboxRows,
    WorkerMetrics,
    purge_expired,
    register_jobs,
    schedule_purge,
)
from erp_worker.jobs import PURGE_ARM_JOB

DAY = timedelta(days=1)


async def test_only_rows_past_the_retention_are_deleted(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime.now(UTC)
    old, recent = now - 10 * DAY, now - DAY
    async with sessionmaker() as session:
        user = User(email=f"purge-{uuid.uuid4().hex}@example.org", password_hash="x")
        org = Organization(name="Purge", slug=f"purge-{uuid.uuid4().hex[:12]}")
        session.add_all([user, org])
        await session.flush()

        def token(**times: datetime | None) -> RefreshToken:
            return RefreshToken(
                user_id=user.id, family_id=uuid.uuid4(), token_hash=uuid.uuid4().bytes * 2,
                expires_at=times.pop("expires_at", now + DAY), **times,
            )  # fmt: skip

        def invitation(**times: datetime | None) -> Invitation:
            return Invitation(
                organization_id=org.id, email="x@example.org", role="member",
                token_hash=uuid.uuid4().bytes * 2, expires_at=times.pop("expires_at", now + DAY), **times,
            )  # fmt: skip

        doomed_tokens = [token(spent_at=old), token(revoked_at=old), token(expires_at=old)]
        kept_tokens = [token(), token(spent_at=recent), token(expires_at=recent)]
        doomed_invitations = [
            invitation(accepted_at=old),
            invitation(revoked_at=old),
            invitation(expires_at=old),
        ]
        kept_invitations = [invitation(), invitation(revoked_at=recent)]
        session.add_all(doomed_tokens + kept_tokens + doomed_invitations + kept_invitations)
        await session.commit()
        mine_tokens = [row.id for row in doomed_tokens + kept_tokens]
        mine_invitations = [row.id for row in doomed_invitations + kept_invitations]

    # Batches of two: several batches per table, each its own short transaction.
    counts = await purge_expired(sessionmaker, retention_s=int((5 * DAY).total_seconds()), batch_size=2)

    async with sessionmaker() as session:
        tokens_left = set(
            (await session.scalars(select(RefreshToken.id).where(RefreshToken.id.in_(mine_tokens)))).all()
        )
        invitations_left = set(
            (await session.scalars(select(Invitation.id).where(Invitation.id.in_(mine_invitations)))).all()
        )
    assert tokens_left == {row.id for row in kept_tokens}
    assert invitations_left == {row.id for row in kept_invitations}
    assert counts.refresh_tokens >= 3
    assert counts.invitations >= 3


@pytest.fixture
def jobs_app(queue_app: App, sessionmaker: async_sessionmaker[AsyncSession], outbox_rows: OutboxRows) -> App:
    """``queue_app`` with this release's jobs registered, a purge every hour."""
    register_jobs(
        queue_app,
        JobSettings(
            sessionmaker=sessionmaker, outbox=outbox_rows, metrics=WorkerMetrics(), mailer=None,
            max_attempts=3, purge_interval_s=3600, purge_retention_s=3600,
        ),
    )  # fmt: skip
    return queue_app


async def test_one_purge_waits_and_runs_at_a_time_however_many_workers_ask(jobs_app: App) -> None:
    queue_app = jobs_app
    task = queue_app.tasks[PURGE_JOB]
    # The engine's lock: a second purge job does not start while one runs.
    assert (task.lock, task.queueing_lock) == (PURGE_JOB, PURGE_JOB)
    waiting_before = list(await queue_app.job_manager.list_jobs_async(task=PURGE_JOB, status="todo"))
    asked = [await schedule_purge(queue_app, in_seconds=3600) for _ in range(3)]
    waiting = list(await queue_app.job_manager.list_jobs_async(task=PURGE_JOB, status="todo"))
    assert len(waiting) == 1
    assert asked.count(True) == (0 if waiting_before else 1)


async def test_a_lost_purge_chain_is_re_armed_every_minute_by_one_periodic_task(jobs_app: App) -> None:
    queue_app = jobs_app
    # A purge that cannot schedule its successor (the database down then) must
    # not end the chain: the engine's periodic task asks again every minute.
    periodic = queue_app.periodic_registry.periodic_tasks[(PURGE_ARM_JOB, PURGE_ARM_JOB)]
    assert periodic.cron == "* * * * *"
    for job in await queue_app.job_manager.list_jobs_async(task=PURGE_JOB, status="todo"):
        await queue_app.job_manager.cancel_job_by_id_async(job.id)

    await periodic.task.func(timestamp=0)  # the chain was lost: the arm asks for a purge
    await periodic.task.func(timestamp=60)  # one is waiting: the arm asks for nothing more

    waiting = list(await queue_app.job_manager.list_jobs_async(task=PURGE_JOB, status="todo"))
    assert len(waiting) == 1
