"""The SQL of users: find by email (case-insensitively, through ``ix_users_lower_email``), create.

Creation is one ``INSERT … ON CONFLICT ((lower(email))) DO NOTHING RETURNING``:
a taken email is an answer (``None``), not an exception, whichever of two
concurrent creations wins, and no constraint error reaches the log.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from erp_db import User


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(func.lower(User.email) == func.lower(email)))


async def create_user(
    session: AsyncSession, *, email: str, password_hash: str, full_name: str, is_superuser: bool
) -> User | None:
    """The new user, or ``None`` when the email is taken (in any letter case)."""
    statement = (
        insert(User)
        .values(
            id=uuid.uuid4(),
            email=email,
            password_hash=password_hash,
            full_name=full_name,
            is_superuser=is_superuser,
        )
        .on_conflict_do_nothing(index_elements=[func.lower(User.email)])
        .returning(User)
    )
    return await session.scalar(statement)
