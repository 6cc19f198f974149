"""Who may call the service: users and their refresh tokens (docs/contract.md §9).

The tables live here, in erp-db, so that other internal services can read
them; the rules (hashing, token rotation, throttling) live in the service's
identity feature. Two guarantees are held by the database itself rather than
by Python:

- an email is unique *case-insensitively*: a unique index on ``lower(email)``
  refuses ``Ann@x.org`` beside ``ann@x.org`` whichever code path inserts it;
- a refresh token's hash is unique, and a token is spent by one conditional
  ``UPDATE … WHERE spent_at IS NULL AND revoked_at IS NULL``, so of two
  concurrent refreshes with the same token exactly one wins.

Only hashes are stored: ``password_hash`` (argon2id, PHC string) and
``token_hash`` (SHA-256 of the opaque refresh token).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from erp_db.base import Base

EMAIL_MAX_LENGTH = 320  # RFC 5321: 64 for the local part, @, 255 for the domain
FULL_NAME_MAX_LENGTH = 200


class User(Base):
    """An account that signs in with email and password."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )
    # Stored as given (the caller's spelling); compared through lower(email).
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH))
    full_name: Mapped[str] = mapped_column(String(FULL_NAME_MAX_LENGTH), default="", server_default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        # A functional index has no column for the naming convention to use:
        # named by hand in the convention's shape.
        Index("ix_users_lower_email", func.lower(email), unique=True),
    )

    def __repr__(self) -> str:
        # Never the hash; the email is personal data, the id is enough.
        return f"User(id={self.id!s})"


class RefreshToken(Base):
    """One issued refresh token; a login starts a family, each rotation adds to it."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Every token descended from one login shares it: reuse of a spent token
    # revokes the whole family (docs/contract.md §9).
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    spent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"RefreshToken(id={self.id!s}, family_id={self.family_id!s})"
