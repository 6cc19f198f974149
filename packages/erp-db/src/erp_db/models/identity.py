"""Who may call the service: users and their refresh tokens (docs/contract.md §9).

The tables live here, in erp-db, so that other internal services can read
them; the rules (hashing, token rotation, throttling) live in the service's
identity feature. Two guarantees are held by the database itself rather than
by Python:

- an email is unique in its canonical form (:func:`erp_db.emails.canonical_email`,
  stored in ``email_canonical``, which every insert fills from ``email``): a
  unique index refuses ``Ann@x.org`` beside ``ann@x.org`` whichever code path
  inserts it;
- a refresh token's hash is unique, and a token is spent by one conditional
  ``UPDATE … WHERE spent_at IS NULL AND revoked_at IS NULL``, so of two
  concurrent refreshes with the same token exactly one wins.

Only hashes are stored: ``password_hash`` (argon2id, PHC string) and
``token_hash`` (SHA-256 of the opaque refresh token).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    LargeBinary,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column

from erp_db.base import Base
from erp_db.emails import canonical_email

EMAIL_MAX_LENGTH = 320  # RFC 5321: 64 for the local part, @, 255 for the domain
FULL_NAME_MAX_LENGTH = 200


def canonical_email_of_row(context: DefaultExecutionContext) -> str:
    """The column default of ``email_canonical``: the canonical form of the row's ``email``.

    A default rather than a duty of every caller, so that an ORM ``add``, a
    Core ``insert().values(email=…)`` and a test fixture all store the same
    form. (The email cannot be changed by any route today; a feature that
    changes it must set ``email_canonical`` with it.)
    """
    parameters: dict[str, Any] = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return canonical_email(parameters["email"])


class User(Base):
    """An account that signs in with email and password."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )
    # Stored as given (the caller's spelling); compared through email_canonical.
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH))
    email_canonical: Mapped[str] = mapped_column(Text, default=canonical_email_of_row, unique=True)
    full_name: Mapped[str] = mapped_column(String(FULL_NAME_MAX_LENGTH), default="", server_default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
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
