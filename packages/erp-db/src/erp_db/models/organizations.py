"""Organisations, who belongs to them, and who is invited (docs/contract.md §10).

Every later ERP record belongs to an organisation, so these tables decide
tenant isolation once. What the database holds for itself:

- a slug is unique (``uq_organizations_slug``) and well formed
  (``ck_organizations_slug_shape``), whichever code path writes it;
- one membership per user and organisation (the primary key is the pair),
  with a role from a closed list (``ck_memberships_role``);
- ``version`` starts at 1 and is only ever raised by the service's
  conditional ``UPDATE … WHERE version = :expected`` (optimistic concurrency);
- an invitation's token is stored only as its SHA-256 (``token_hash``, unique).

Indexes follow the queries: a member's organisations (``memberships`` by
``user_id``), an organisation's members and pending invitations in
``(created_at, id)`` order for keyset paging.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from erp_db.base import Base
from erp_db.closed_lists import closed_list
from erp_db.models.identity import EMAIL_MAX_LENGTH, canonical_email_of_row

ORGANIZATION_NAME_MAX_LENGTH: Final = 200
SLUG_MAX_LENGTH: Final = 63
# docs/contract.md §10, as a PostgreSQL regular expression (same meaning as Python's).
SLUG_PATTERN: Final = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
ROLES: Final = ("member", "admin", "owner")


class Organization(Base):
    """A tenant: every business record of the ERP will belong to one."""

    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )
    name: Mapped[str] = mapped_column(String(ORGANIZATION_NAME_MAX_LENGTH))
    slug: Mapped[str] = mapped_column(String(SLUG_MAX_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __table_args__ = (
        CheckConstraint(f"slug ~ '{SLUG_PATTERN}'", name="slug_shape"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    def __repr__(self) -> str:
        return f"Organization(id={self.id!s}, version={self.version})"


class Membership(Base):
    """A user's role in one organisation; the pair is the primary key."""

    __tablename__ = "memberships"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        closed_list("role", ROLES, name="role"),
        # "my organisations": every membership of one user (the primary key
        # leads with organization_id, so it cannot serve this).
        Index(None, "user_id", "organization_id"),
        # An organisation's members, paged in (created_at, user_id) order.
        Index(None, "organization_id", "created_at", "user_id"),
    )

    def __repr__(self) -> str:
        return f"Membership(organization_id={self.organization_id!s}, user_id={self.user_id!s})"


class Invitation(Base):
    """An offer of a role, to an email address, redeemable once with a token shown once."""

    __tablename__ = "invitations"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH))
    # What acceptance compares with the caller's users.email_canonical (erp_db.emails).
    email_canonical: Mapped[str] = mapped_column(Text, default=canonical_email_of_row)
    role: Mapped[str] = mapped_column(String(16))
    # SHA-256 of the opaque token; the token itself is shown once and never stored.
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        closed_list("role", ROLES, name="role"),
        # An organisation's invitations, paged in (created_at, id) order.
        Index(None, "organization_id", "created_at", "id"),
    )

    def __repr__(self) -> str:
        # Never the token hash; the email is personal data.
        return f"Invitation(id={self.id!s}, organization_id={self.organization_id!s})"
