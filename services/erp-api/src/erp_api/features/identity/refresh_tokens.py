"""Refresh tokens: opaque, stored as SHA-256, rotated on every use, revoked by family (docs/contract.md §9).

A login starts a *family*; each refresh spends the presented token and adds
a new one to the family. Spending is one conditional statement::

    UPDATE refresh_tokens SET spent_at = now()
     WHERE token_hash = :h AND spent_at IS NULL AND revoked_at IS NULL AND expires_at > now()
    RETURNING user_id, family_id

PostgreSQL makes a second ``UPDATE`` of the same row wait for the first
transaction and then re-check its ``WHERE``: of two concurrent refreshes
with one token exactly one gets a row. The other finds the token spent,
which is what a stolen token looks like: reuse revokes the whole family, so
the thief and the owner both have to log in again. (The winner's new pair
is revoked too; its access token lives out its few minutes.)

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
from typing import Final

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from erp_db import RefreshToken

TOKEN_BYTES: Final = 32


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


async def spend_refresh_token(session: AsyncSession, raw: str) -> SpentToken:
    """Spend ``raw`` once; :class:`RefreshRefused` when it cannot be, after revoking a reused family.

    On reuse the revocation is only *in the session*: the caller must commit
    it before answering the refusal (raising would roll it back).
    """
    digest = token_digest(raw)
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
    row = spent.first()
    if row is not None:
        return SpentToken(user_id=row.user_id, family_id=row.family_id)

    found = (
        await session.execute(
            select(RefreshToken.family_id, RefreshToken.spent_at).where(RefreshToken.token_hash == digest)
        )
    ).first()
    if found is None:
        raise RefreshRefused(Refusal.UNKNOWN)
    if found.spent_at is not None:
        await revoke_family(session, found.family_id)
        raise RefreshRefused(Refusal.REUSED)
    raise RefreshRefused(Refusal.EXPIRED_OR_REVOKED)


async def token_owner(session: AsyncSession, raw: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """``(user_id, family_id)`` of a stored token, spent or not; ``None`` when unknown."""
    row = (
        await session.execute(
            select(RefreshToken.user_id, RefreshToken.family_id).where(
                RefreshToken.token_hash == token_digest(raw)
            )
        )
    ).first()
    return None if row is None else (row.user_id, row.family_id)


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .execution_options(synchronize_session=False)
    )


async def revoke_all_of_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .execution_options(synchronize_session=False)
    )
