"""The organisation tables hold their own guarantees, whatever code writes to them (docs/contract.md §10)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from erp_db import AuditEvent, Invitation, Membership, Organization, User


async def _user(session: AsyncSession) -> User:
    user = User(email=f"{uuid.uuid4().hex}@example.org", password_hash="x")
    session.add(user)
    await session.flush()
    return user


async def _organization(session: AsyncSession, slug: str | None = None) -> Organization:
    organization = Organization(name="Acme", slug=slug or f"acme-{uuid.uuid4().hex[:12]}")
    session.add(organization)
    await session.flush()
    return organization


async def test_a_new_organization_starts_at_version_1_unarchived(erp_db_session: AsyncSession) -> None:
    organization = await _organization(erp_db_session)
    await erp_db_session.refresh(organization)
    assert organization.version == 1
    assert organization.archived_at is None
    assert organization.created_at.tzinfo is not None


async def test_slugs_are_unique(erp_db_session: AsyncSession) -> None:
    slug = f"dup-{uuid.uuid4().hex[:12]}"
    await _organization(erp_db_session, slug)
    with pytest.raises(IntegrityError, match="uq_organizations_slug"):
        await _organization(erp_db_session, slug)


@pytest.mark.parametrize("slug", ["Upper", "-lead", "trail-", "a_b", "a.b", "new\nline", "line\n"])
async def test_the_database_refuses_a_malformed_slug(erp_db_session: AsyncSession, slug: str) -> None:
    with pytest.raises(IntegrityError, match="ck_organizations_slug_shape"):
        await _organization(erp_db_session, slug)


async def test_one_membership_per_user_and_organization_with_a_known_role(
    erp_db_session: AsyncSession,
) -> None:
    user, organization = await _user(erp_db_session), await _organization(erp_db_session)
    erp_db_session.add(Membership(organization_id=organization.id, user_id=user.id, role="owner"))
    await erp_db_session.flush()
    async with erp_db_session.begin_nested():
        erp_db_session.add(Membership(organization_id=organization.id, user_id=user.id, role="member"))
        with pytest.raises(IntegrityError, match="pk_memberships"):
            await erp_db_session.flush()
    other = await _user(erp_db_session)
    erp_db_session.add(Membership(organization_id=organization.id, user_id=other.id, role="king"))
    with pytest.raises(IntegrityError, match="ck_memberships_role"):
        await erp_db_session.flush()


async def test_invitation_token_hashes_are_unique(erp_db_session: AsyncSession) -> None:
    organization = await _organization(erp_db_session)
    expires = datetime.now(UTC) + timedelta(days=7)
    for _ in range(2):
        erp_db_session.add(
            Invitation(
                organization_id=organization.id,
                email="x@example.org",
                role="member",
                token_hash=b"t" * 32,
                expires_at=expires,
            )
        )
    with pytest.raises(IntegrityError, match="uq_invitations_token_hash"):
        await erp_db_session.flush()


async def test_an_unknown_audit_action_is_refused(erp_db_session: AsyncSession) -> None:
    erp_db_session.add(AuditEvent(action="user.deleted", target_type="user", target_id=uuid.uuid4()))
    with pytest.raises(IntegrityError, match="ck_audit_events_action"):
        await erp_db_session.flush()


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEvent).values(action="user.updated"),
        delete(AuditEvent),
        text("TRUNCATE audit_events"),
    ],
    ids=["update", "delete", "truncate"],
)
async def test_audit_events_are_append_only(erp_db_session: AsyncSession, statement: object) -> None:
    erp_db_session.add(AuditEvent(action="user.created", target_type="user", target_id=uuid.uuid4()))
    await erp_db_session.flush()
    with pytest.raises(DBAPIError, match="append-only"):
        await erp_db_session.execute(statement)  # type: ignore[call-overload]
