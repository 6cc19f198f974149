"""The purge (docs/contract.md §14): delete what identity and invitations no longer need.

Refresh tokens and invitations spent (accepted), revoked or expired for
longer than ``retention_s`` are deleted; so are outbox rows completed that
long ago. Each batch is one short transaction that deletes at most
``batch_size`` rows picked with ``FOR UPDATE SKIP LOCKED``: it locks only
those rows, never a table, and steps around rows a request is using.

One purge at a time, however many workers run, is the queue engine's job:
the task carries a procrastinate ``lock`` (see :mod:`erp_worker.jobs`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from erp_db import Invitation, OutboxJob, RefreshToken, session_scope

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    refresh_tokens: int
    invitations: int
    outbox_jobs: int


def _refresh_token_is_old(cutoff: datetime) -> ColumnElement[bool]:
    return or_(
        RefreshToken.spent_at < cutoff, RefreshToken.revoked_at < cutoff, RefreshToken.expires_at < cutoff
    )


def _invitation_is_old(cutoff: datetime) -> ColumnElement[bool]:
    return or_(
        Invitation.accepted_at < cutoff, Invitation.revoked_at < cutoff, Invitation.expires_at < cutoff
    )


def _outbox_job_is_old(cutoff: datetime) -> ColumnElement[bool]:
    return OutboxJob.completed_at < cutoff


async def _purge_table(
    sessionmaker: async_sessionmaker[AsyncSession],
    model: type[RefreshToken] | type[Invitation] | type[OutboxJob],
    condition: ColumnElement[bool],
    batch_size: int,
) -> int:
    total = 0
    while True:
        async with session_scope(sessionmaker) as session:
            batch = select(model.id).where(condition).limit(batch_size).with_for_update(skip_locked=True)
            result = await session.execute(delete(model).where(model.id.in_(batch.scalar_subquery())))
            deleted = int(result.rowcount)  # type: ignore[attr-defined]
        total += deleted
        if deleted < batch_size:
            return total


async def purge_expired(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    retention_s: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
    now: datetime | None = None,
) -> PurgeCounts:
    """Delete, in batches of ``batch_size``, every row done with for longer than ``retention_s``."""
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=retention_s)
    counts = PurgeCounts(
        refresh_tokens=await _purge_table(
            sessionmaker, RefreshToken, _refresh_token_is_old(cutoff), batch_size
        ),
        invitations=await _purge_table(sessionmaker, Invitation, _invitation_is_old(cutoff), batch_size),
        outbox_jobs=await _purge_table(sessionmaker, OutboxJob, _outbox_job_is_old(cutoff), batch_size),
    )
    logger.info(
        "purge done",
        extra={
            "purged_refresh_tokens": counts.refresh_tokens,
            "purged_invitations": counts.invitations,
            "purged_outbox_jobs": counts.outbox_jobs,
        },
    )
    return counts
