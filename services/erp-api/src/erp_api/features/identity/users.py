"""The SQL of users: find by email (in its canonical form, through ``uq_users_email_canonical``), create.

Emails are compared in :func:`erp_db.canonical_email`'s form only, computed
here in Python and stored by the model's default, never by PostgreSQL's
``lower()``: the two disagree on some letters (docs/contract.md §9).
Creation is one ``INSERT … ON CONFLICT (email_canonical) DO NOTHING RETURNING``:
a taken email is an answer (``None``), not an exception, whichever of two
concurrent creations wins, and no constraint error reaches the log.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from erp_db import User, canonical_email


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email_canonical == canonical_email(email)))


async def create_user(
    session: AsyncSession, *, email: str, password_hash: str, full_name: str, is_superuser: bool
) -> User | None:
    """The new user, or ``None`` when the email is taken (in any spelling of the same canonical form)."""
    statement = (
        insert(User)
        .values(
            id=uuid.uuid4(),
            email=email,
            password_hash=password_hash,
            full_name=full_name,
            is_superuser=is_superuser,
        )
        .on_conflict_do_nothing(index_elements=[User.email_canonical])
        .returning(User)
    )
    return await session.scalar(statement)
