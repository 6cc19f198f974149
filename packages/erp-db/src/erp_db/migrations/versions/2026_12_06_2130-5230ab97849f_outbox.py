"""outbox: the jobs a request asks for, committed with it (docs/contract.md §14)

Reviewed by hand after autogenerate. One new table, so the upgrade takes no
lock on existing data:

- ``uq_outbox_jobs_idempotency_key``: recording the same job twice keeps one
  row (``erp_db.enqueue_job`` inserts with ``ON CONFLICT DO NOTHING``).
- ``ix_outbox_jobs_unrelayed``: a partial index on ``created_at`` of the rows
  the worker has not yet handed to its queue, the relay's only scan; it
  stays as small as the backlog.

It follows customers (f169cddf6c24): written beside it, re-parented when both landed.

Revision ID: 5230ab97849f
Revises: f169cddf6c24
Create Date: 2026-12-06 21:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5230ab97849f"
down_revision: str | Sequence[str] | None = "f169cddf6c24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_jobs",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("relayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_jobs")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_jobs_idempotency_key")),
    )
    op.create_index(
        "ix_outbox_jobs_unrelayed",
        "outbox_jobs",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("relayed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_jobs_unrelayed", table_name="outbox_jobs", postgresql_where=sa.text("relayed_at IS NULL"))
    op.drop_table("outbox_jobs")
