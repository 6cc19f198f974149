"""The identity tables hold their own guarantees, whatever code writes to them (docs/contract.md §9)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from erp_db import RefreshToken, User, canonical_email


async def test_email_is_unique_whatever_its_case(erp_db_session: AsyncSession) -> None:
    erp_db_session.add(User(email="Ann@Example.org", password_hash="x"))
    await erp_db_session.flush()
    erp_db_session.add(User(email="ann@example.ORG", password_hash="x"))
    with pytest.raises(IntegrityError, match="uq_users_email_canonical"):
        await erp_db_session.flush()


async def test_every_insert_stores_the_canonical_form_computed_in_python(
    erp_db_session: AsyncSession,
) -> None:
    # Through the ORM and through a Core INSERT alike: the column's default.
    orm = User(email="\uff21NN-orm@Example.org", password_hash="x")
    erp_db_session.add(orm)
    core = await erp_db_session.scalar(
        insert(User)
        .values(email="T\u0130GRIS@example.org", password_hash="x")
        .returning(User.email_canonical)
    )
    await erp_db_session.flush()

    assert orm.email_canonical == "ann-orm@example.org" == canonical_email(orm.email)
    # Not PostgreSQL's lower(), which makes U+0130 a plain "i".
    assert core == "ti\u0307gris@example.org"
    assert core != await erp_db_session.scalar(select(func.lower("T\u0130GRIS@example.org")))


async def test_a_new_user_is_active_not_superuser_with_aware_timestamps(erp_db_session: AsyncSession) -> None:
    user = User(email=f"{uuid.uuid4().hex}@example.org", password_hash="x")
    erp_db_session.add(user)
    await erp_db_session.flush()
    await erp_db_session.refresh(user)
    assert user.is_active
    assert not user.is_superuser
    assert user.full_name == ""
    assert user.created_at.tzinfo is not None
    assert user.updated_at.tzinfo is not None


async def test_refresh_token_hashes_are_unique_and_go_with_their_user(erp_db_session: AsyncSession) -> None:
    user = User(email=f"{uuid.uuid4().hex}@example.org", password_hash="x")
    erp_db_session.add(user)
    await erp_db_session.flush()
    expires = datetime.now(UTC) + timedelta(days=1)
    family = uuid.uuid4()
    erp_db_session.add(
        RefreshToken(user_id=user.id, family_id=family, token_hash=b"1" * 32, expires_at=expires)
    )
    await erp_db_session.flush()

    await erp_db_session.delete(user)
    await erp_db_session.flush()
    assert (
        await erp_db_session.scalars(select(RefreshToken).where(RefreshToken.family_id == family))
    ).all() == []

    other = User(email=f"{uuid.uuid4().hex}@example.org", password_hash="x")
    erp_db_session.add(other)
    await erp_db_session.flush()
    for _ in range(2):
        erp_db_session.add(
            RefreshToken(user_id=other.id, family_id=family, token_hash=b"2" * 32, expires_at=expires)
        )
    with pytest.raises(IntegrityError, match="uq_refresh_tokens_token_hash"):
        await erp_db_session.flush()


def test_repr_shows_no_hash_and_no_email() -> None:
    user = User(id=uuid.uuid4(), email="secret@example.org", password_hash="$argon2id$secret")
    assert "secret" not in repr(user)
