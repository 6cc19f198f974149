"""Refresh tokens: opaque, stored as SHA-256, rotated on every use, revoked by family (docs/contract.md §9).

A login starts a *family*; each refresh spends the presented token and adds
a new one to the family. Presenting a spent token again is what a stolen
token looks like: reuse revokes the whole family, so the thief and the owner
both have to log in again.

Every change to a user's refresh tokens (a rotation, a reuse's revocation,
a logout, a password change) first takes the *user's token lock*, a
transaction-scoped advisory lock keyed by the user id, and only then reads
and writes the tokens. They are therefore serialised per user, and each one
sees what the one before it committed. Without the lock, a reuse racing a
rotation revoked the family as its statement's snapshot saw it, missing the
token that the rotation was inserting, which stayed alive; and two
revocations and rotations of one family, each holding some of its rows,
could wait on each other (a deadlock, answered 500). With one lock taken
first by everybody there is no order to get wrong. PgBouncer's transaction
mode keeps it: the lock lives and dies with the transaction.

The raw token is ``secrets.token_urlsafe(32)``: 256 random bits. Only its
hash is stored; the raw value leaves the process once, in the answer.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import Text, Uuid, cast, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from erp_db import RefreshToken

TOKEN_BYTES: Final = 32
# The seed of hashtextextended() for token locks: keeps their keys apart from other advisory locks'.
TOKEN_LOCK_SEED: Final = 0x7265_6672_6573_68


class Refusal(enum.Enum):
    UNKNOWN = "unknown"
    REUSED = "reused"  # spent before: the family is revoked
    EXPIRED_OR_REVOKED = "expired or revoked"


class RefreshRefused(Exception):
    """The presented refresh token cannot be spent; ``reason`` says why (never shown to the caller)."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SpentToken:
    user_id: uuid.UUID
    family_id: uuid.UUID


def token_digest(raw: str) -> bytes:
    return hashlib.sha256(raw.encode()).digest()


async def issue_refresh_token(
    session: AsyncSession, *, user_id: uuid.UUID, family_id: uuid.UUID, ttl_s: int
) -> str:
    """Store a new token of ``family_id`` and return its raw value (shown to the caller once)."""
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    await session.execute(
        insert(RefreshToken).values(
            id=uuid.uuid4(),
            user_id=user_id,
            family_id=family_id,
            token_hash=token_digest(raw),
            expires_at=func.now() + timedelta(seconds=ttl_s),
        )
    )
    return raw


def _token_lock(user_id: Any) -> Any:
    """``pg_advisory_xact_lock`` on the user's token lock; ``user_id`` a column or a value."""
    as_text = cast(literal(user_id, Uuid) if isinstance(user_id, uuid.UUID) else user_id, Text)
    return func.pg_advisory_xact_lock(func.hashtextextended(as_text, TOKEN_LOCK_SEED))


async def _lock_owner_of(session: AsyncSession, digest: bytes) -> tuple[uuid.UUID, uuid.UUID] | None:
    """``(user_id, family_id)`` of the token with ``digest``, its owner's lock held; ``None`` if unknown."""
    row = (
        await session.execute(
            select(RefreshToken.user_id, RefreshToken.family_id, _token_lock(RefreshToken.user_id)).where(
                RefreshToken.token_hash == digest
            )
        )
    ).first()
    return None if row is None else (row.user_id, row.family_id)


async def spend_refresh_token(session: AsyncSession, raw: str) -> SpentToken:
    """Spend ``raw`` once; :class:`RefreshRefused` when it cannot be, after revoking a reused family.

    On reuse the revocation is only *in the session*: the caller must commit
    it before answering the refusal (raising would roll it back).
    """
    digest = token_digest(raw)
    owner = await _lock_owner_of(session, digest)
    if owner is None:
        raise RefreshRefused(Refusal.UNKNOWN)
    # Each statement from here on sees what the lock's previous holder committed.
    spent = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.token_hash == digest,
            RefreshToken.spent_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > func.now(),
        )
        .values(spent_at=func.now())
        .returning(RefreshToken.user_id, RefreshToken.family_id)
        .execution_options(synchronize_session=False)
    )
    if spent.first() is not None:
        return SpentToken(user_id=owner[0], family_id=owner[1])
    spent_at = await session.scalar(select(RefreshToken.spent_at).where(RefreshToken.token_hash == digest))
    if spent_at is not None:
        await revoke_family(session, owner[1])
        raise RefreshRefused(Refusal.REUSED)
    raise RefreshRefused(Refusal.EXPIRED_OR_REVOKED)


async def lock_token_owner(session: AsyncSession, raw: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """``(user_id, family_id)`` of a stored token, spent or not, its owner's lock held; else ``None``."""
    return await _lock_owner_of(session, token_digest(raw))


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    """Revoke every live token of the family; call it holding the owner's lock (:func:`lock_token_owner`)."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .execution_options(synchronize_session=False)
    )


async def revoke_all_of_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Revoke every live token of the user, after any rotation in flight has committed."""
    await session.execute(select(_token_lock(user_id)))
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .execution_options(synchronize_session=False)
    )
