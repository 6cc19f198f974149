"""organizations: organisations, memberships, invitations, audit events (docs/contract.md §10)

Reviewed by hand after autogenerate. What the database holds for itself:

- ``uq_organizations_slug`` and ``ck_organizations_slug_shape``: a slug is
  unique and well formed whatever writes it; ``version`` starts at 1.
- ``pk_memberships`` on (organization_id, user_id): one role per user and
  organisation; ``ck_memberships_role`` / ``ck_invitations_role`` close the
  role list. Memberships and invitations go with their organisation or user
  (``ON DELETE CASCADE``); an invitation outlives its inviter (``SET NULL``).
- ``uq_invitations_token_hash``: an invitation token's SHA-256 is unique.
- ``audit_events`` is append-only: the triggers ``audit_events_append_only``
  and ``audit_events_no_truncate`` raise on ``UPDATE``, ``DELETE`` and
  ``TRUNCATE``, whoever sends them, the table's owner included. Only a
  schema change (dropping the trigger) or a superuser's
  ``session_replication_role = replica`` gets past them, and the service
  does neither. ``erp-db check`` compares tables, columns and indexes only,
  so the triggers live here, not in the models.
  ``ck_audit_events_action`` closes the list of actions.

Indexes serve the service's queries (checked with ``EXPLAIN``):
``ix_memberships_user_id_organization_id`` for "my organisations",
``ix_memberships_organization_id_created_at_user_id``,
``ix_invitations_organization_id_created_at_id`` and
``ix_audit_events_organization_id_occurred_at_id`` for keyset pages.

Every table is new, so the upgrade takes no lock on existing data.

Revision ID: c5e8a1f4d2b6
Revises: 7b2d9c4e1f3a
Create Date: 2026-12-01 23:40:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c5e8a1f4d2b6"
down_revision: str | Sequence[str] | None = "7b2d9c4e1f3a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_APPEND_ONLY_FUNCTION = """
CREATE FUNCTION audit_events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint(
            "slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'", name=op.f("ck_organizations_slug_shape")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_organizations_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("slug", name=op.f("uq_organizations_slug")),
    )
    op.create_table(
        "memberships",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("role IN ('member', 'admin', 'owner')", name=op.f("ck_memberships_role")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_memberships_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("organization_id", "user_id", name=op.f("pk_memberships")),
    )
    op.create_index(
        op.f("ix_memberships_user_id_organization_id"),
        "memberships",
        ["user_id", "organization_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_memberships_organization_id_created_at_user_id"),
        "memberships",
        ["organization_id", "created_at", "user_id"],
        unique=False,
    )
    op.create_table(
        "invitations",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('member', 'admin', 'owner')", name=op.f("ck_invitations_role")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_invitations_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_invitations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_index(
        op.f("ix_invitations_organization_id_created_at_id"),
        "invitations",
        ["organization_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column(
            "changes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.CheckConstraint(
            "action IN ('user.created', 'user.updated', 'organization.created', 'organization.updated', "
            "'organization.archived', 'membership.created', 'membership.updated', 'membership.deleted', "
            "'invitation.created', 'invitation.accepted', 'invitation.revoked')",
            name=op.f("ck_audit_events_action"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(
        op.f("ix_audit_events_organization_id_occurred_at_id"),
        "audit_events",
        ["organization_id", "occurred_at", "id"],
        unique=False,
    )
    op.execute(_APPEND_ONLY_FUNCTION)
    op.execute(
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
    op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
    op.execute("DROP FUNCTION audit_events_refuse_change()")
    op.drop_index(op.f("ix_audit_events_organization_id_occurred_at_id"), table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index(op.f("ix_invitations_organization_id_created_at_id"), table_name="invitations")
    op.drop_table("invitations")
    op.drop_index(op.f("ix_memberships_organization_id_created_at_user_id"), table_name="memberships")
    op.drop_index(op.f("ix_memberships_user_id_organization_id"), table_name="memberships")
    op.drop_table("memberships")
    op.drop_table("organizations")
