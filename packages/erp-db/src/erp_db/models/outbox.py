"""The transactional outbox: jobs a request asks for, written in the request's own transaction.

A change and the job it needs (an invitation and its mail) commit or roll
back together, so a rolled-back request asks for nothing and a committed one
is never forgotten, even when no worker runs at the time (docs/contract.md
§14). ``erp-worker`` relays committed rows to its queue engine and marks them
done; ``idempotency_key`` is unique, so recording the same job twice keeps one
row, and the worker skips a row already ``completed_at``.

A payload may hold a secret only until the job is done (the invitation
token): the worker erases it when it completes the job.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final

from sqlalchemy import DateTime, Index, Integer, String, Uuid, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from erp_db.base import Base

JOB_NAME_MAX_LENGTH: Final = 64
IDEMPOTENCY_KEY_MAX_LENGTH: Final = 200
LAST_ERROR_MAX_LENGTH: Final = 500


class OutboxJob(Base):
    """One job asked for by a committed change; relayed to the queue, then completed or failed."""

    __tablename__ = "outbox_jobs"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )
    job: Mapped[str] = mapped_column(String(JOB_NAME_MAX_LENGTH))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    idempotency_key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_MAX_LENGTH), unique=True)
    # The request that asked for the job, so the worker's log lines can name it.
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    relayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # The last failure, without secrets: the worker writes its own words, never the payload.
    last_error: Mapped[str | None] = mapped_column(String(LAST_ERROR_MAX_LENGTH))

    __table_args__ = (
        # The relay's scan: rows not yet handed to the queue, oldest first.
        Index(
            "ix_outbox_jobs_unrelayed",
            "created_at",
            postgresql_where=text("relayed_at IS NULL"),
        ),
    )

    def __repr__(self) -> str:
        # Never the payload: it may hold a secret until the job is done.
        return f"OutboxJob(id={self.id!s}, job={self.job})"
