"""The SQL of the organisation routes: one statement per step, each guarded in its ``WHERE``.

Rules that concurrent requests could break are decided by the statement
that changes the row, not by a read before it:

- a change of an organisation is ``UPDATE … WHERE version = :expected``
  (optimistic concurrency: the loser updates nothing and answers 412);
- who may change a membership, and "the last owner can be neither removed
  nor demoted", are conditions of the membership's ``UPDATE``/``DELETE``,
  evaluated on the roles as they are then (not as the access dependency
  read them). The routes that change memberships lock the organisation row
  first (``FOR NO KEY UPDATE``, in the access dependency), so two owners
  demoting each other run one after the other and the second sees the
  first's change.

When a guarded statement changes nothing, ``explain_*`` reads why (not
found, forbidden, conflict): an extra statement on the refusal path only.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta
from typing import Any, Final, TypeAlias

from sqlalchemy import Row, Table, and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api.errors import Conflict, Forbidden, NotFound
from erp_api.features.organizations.schemas import (
    AuditEventOut,
    InvitationOut,
    MemberOut,
    OrganizationOut,
    Role,
)
from erp_api.pagination import Page, PageRequest
from erp_db import AuditEvent, Invitation, Membership, Organization, User

INVITATION_LIFETIME: Final = timedelta(days=7)

# A result row of any shape (the statements below choose their columns).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]

organizations: Table = Organization.__table__  # type: ignore[assignment]
memberships: Table = Membership.__table__  # type: ignore[assignment]
invitations: Table = Invitation.__table__  # type: ignore[assignment]
audit_events: Table = AuditEvent.__table__  # type: ignore[assignment]
users: Table = User.__table__  # type: ignore[assignment]

ORGANIZATION_COLUMNS: Final = tuple(organizations.c)
MEMBER_COLUMNS: Final = (
    memberships.c.user_id,
    users.c.email,
    users.c.full_name,
    memberships.c.role,
    memberships.c.created_at,
)
_OWNER: Final = Role.OWNER.value


def organization_out(row: AnyRow, role: str) -> OrganizationOut:
    values = row._mapping
    return OrganizationOut(**{column.name: values[column.name] for column in ORGANIZATION_COLUMNS}, role=role)


def member_out(row: AnyRow) -> MemberOut:
    return MemberOut(**{column.name: row._mapping[column.name] for column in MEMBER_COLUMNS})


# --- access -----------------------------------------------------------------------------------


async def organization_with_role(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool = False
) -> AnyRow | None:
    """The organisation and the user's role in it (``role``), or ``None`` when they are no member.

    ``lock`` takes the organisation row ``FOR NO KEY UPDATE`` until the
    transaction ends: the routes that change memberships serialise on it.
    """
    statement = (
        select(*ORGANIZATION_COLUMNS, memberships.c.role)
        .join_from(memberships, organizations, memberships.c.organization_id == organizations.c.id)
        .where(memberships.c.organization_id == organization_id, memberships.c.user_id == user_id)
    )
    if lock:
        statement = statement.with_for_update(of=organizations, key_share=True)
    return (await session.execute(statement)).one_or_none()


# --- organisations ----------------------------------------------------------------------------


async def list_organizations(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest, *, include_archived: bool
) -> Page[OrganizationOut]:
    statement = (
        select(*ORGANIZATION_COLUMNS, memberships.c.role)
        .join_from(memberships, organizations, memberships.c.organization_id == organizations.c.id)
        .where(memberships.c.user_id == user_id)
    )
    if not include_archived:
        statement = statement.where(organizations.c.archived_at.is_(None))
    statement = page.apply(statement, organizations.c.created_at, organizations.c.id)
    rows = (await session.execute(statement)).all()
    return page.page(rows, lambda row: (row.created_at, row.id), lambda row: organization_out(row, row.role))


async def create_organization(session: AsyncSession, *, name: str, slug: str) -> AnyRow | None:
    """The new organisation, or ``None`` when the slug is taken (nothing written then)."""
    statement = (
        insert(organizations)
        .values(id=uuid.uuid4(), name=name, slug=slug)
        .on_conflict_do_nothing(index_elements=[organizations.c.slug])
        .returning(*ORGANIZATION_COLUMNS)
    )
    return (await session.execute(statement)).one_or_none()


async def add_member(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, role: Role
) -> bool:
    """Make ``user_id`` a member; ``False`` (and no change) when they already are one."""
    statement = (
        insert(memberships)
        .values(organization_id=organization_id, user_id=user_id, role=role.value)
        .on_conflict_do_nothing(index_elements=[memberships.c.organization_id, memberships.c.user_id])
        .returning(memberships.c.user_id)
    )
    return (await session.execute(statement)).one_or_none() is not None


async def update_organization(
    session: AsyncSession, organization_id: uuid.UUID, *, expected_version: int, values: dict[str, Any]
) -> AnyRow | None:
    """Apply ``values`` if the row is still at ``expected_version`` and not archived, else ``None``.

    A slug that another organisation holds is a 409 pointing at ``body.slug``.
    """
    statement = (
        update(organizations)
        .where(
            organizations.c.id == organization_id,
            organizations.c.version == expected_version,
            organizations.c.archived_at.is_(None),
        )
        .values(**values, version=organizations.c.version + 1, updated_at=func.now())
        .returning(*ORGANIZATION_COLUMNS)
    )
    try:
        return (await session.execute(statement)).one_or_none()
    except IntegrityError as exc:
        if "uq_organizations_slug" in str(exc.orig):
            raise Conflict("That slug is taken", loc=("body", "slug")) from None
        raise


async def archive_organization(session: AsyncSession, organization_id: uuid.UUID) -> AnyRow | None:
    """Archive it; ``None`` when it already was (archiving is idempotent)."""
    statement = (
        update(organizations)
        .where(organizations.c.id == organization_id, organizations.c.archived_at.is_(None))
        .values(archived_at=func.now(), updated_at=func.now(), version=organizations.c.version + 1)
        .returning(*ORGANIZATION_COLUMNS)
    )
    return (await session.execute(statement)).one_or_none()


# --- members ----------------------------------------------------------------------------------


async def list_members(
    session: AsyncSession, organization_id: uuid.UUID, page: PageRequest
) -> Page[MemberOut]:
    statement = (
        select(*MEMBER_COLUMNS)
        .join_from(memberships, users, users.c.id == memberships.c.user_id)
        .where(memberships.c.organization_id == organization_id)
    )
    statement = page.apply(statement, memberships.c.created_at, memberships.c.user_id)
    rows = (await session.execute(statement)).all()
    return page.page(rows, lambda row: (row.created_at, row.user_id), member_out)


def _another_owner(organization_id: uuid.UUID, user_id: uuid.UUID) -> Any:
    others = memberships.alias("other_owners")
    return exists().where(
        others.c.organization_id == organization_id,
        others.c.role == _OWNER,
        others.c.user_id != user_id,
    )


def _role_now(organization_id: uuid.UUID, user_id: uuid.UUID, alias: str) -> Any:
    """The user's role as the statement sees it (``NULL`` for no member): never a stale read."""
    member = memberships.alias(alias)
    return (
        select(member.c.role)
        .where(member.c.organization_id == organization_id, member.c.user_id == user_id)
        .scalar_subquery()
    )


_MANAGERS: Final = (Role.ADMIN.value, Role.OWNER.value)


async def change_role(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, role: Role, *, by: uuid.UUID
) -> AnyRow | None:
    """Set the member's role if ``by`` may; the row (with ``old_role``) or ``None`` when refused.

    Who may is decided here, on the roles as they are when the row changes:
    an admin changes members and admins, an owner anyone; the last owner
    stays an owner.
    """
    old = memberships.alias("old")
    caller_role = _role_now(organization_id, by, "caller")
    statement = (
        update(memberships)
        .where(
            memberships.c.organization_id == organization_id,
            memberships.c.user_id == user_id,
            old.c.organization_id == memberships.c.organization_id,
            old.c.user_id == memberships.c.user_id,
            users.c.id == memberships.c.user_id,
            caller_role.in_(_MANAGERS),
        )
        .values(role=role.value)
        .returning(*MEMBER_COLUMNS, old.c.role.label("old_role"))
    )
    if role is Role.OWNER:
        statement = statement.where(caller_role == _OWNER)
    else:
        statement = statement.where(
            or_(caller_role == _OWNER, old.c.role != _OWNER),
            or_(old.c.role != _OWNER, _another_owner(organization_id, user_id)),
        )
    return (await session.execute(statement)).one_or_none()


async def remove_member(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, *, by: uuid.UUID
) -> str | None:
    """Remove the membership if ``by`` may (anyone may leave); its role, or ``None`` when refused."""
    statement = (
        memberships.delete()
        .where(
            memberships.c.organization_id == organization_id,
            memberships.c.user_id == user_id,
            or_(memberships.c.role != _OWNER, _another_owner(organization_id, user_id)),
        )
        .returning(memberships.c.role)
    )
    if user_id != by:
        caller_role = _role_now(organization_id, by, "caller")
        statement = statement.where(
            caller_role.in_(_MANAGERS), or_(caller_role == _OWNER, memberships.c.role != _OWNER)
        )
    role: str | None = (await session.execute(statement)).scalar_one_or_none()
    return role


async def explain_member_refusal(
    session: AsyncSession,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    by: uuid.UUID,
    new_role: Role | None = None,
) -> Exception:
    """Why :func:`change_role` (``new_role``) or :func:`remove_member` changed nothing, as the error."""
    target_role, caller_role = (
        await session.execute(
            select(_role_now(organization_id, user_id, "target"), _role_now(organization_id, by, "caller"))
        )
    ).one()
    if caller_role is None:  # removed meanwhile: as for any non-member
        return NotFound("Organization not found")
    if target_role is None:
        return NotFound("No such member in this organization")
    if user_id != by or new_role is not None:
        if caller_role not in _MANAGERS:
            return Forbidden("This needs the admin role in the organization")
        if _OWNER in (target_role, new_role) and caller_role != _OWNER:
            return Forbidden("Only an owner may make, change or remove an owner")
    return Conflict("The last owner can be neither removed nor demoted")


# --- invitations ------------------------------------------------------------------------------


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create_invitation(
    session: AsyncSession, organization_id: uuid.UUID, *, email: str, role: Role, created_by: uuid.UUID
) -> tuple[AnyRow, str]:
    """The stored invitation and its token: 256 random bits, kept only as a SHA-256."""
    token = secrets.token_urlsafe(32)
    statement = (
        insert(invitations)
        .values(
            id=uuid.uuid4(),
            organization_id=organization_id,
            email=email,
            role=role.value,
            token_hash=hash_token(token),
            created_by=created_by,
            expires_at=func.now() + INVITATION_LIFETIME,
        )
        .returning(invitations.c.id, invitations.c.email, invitations.c.role, invitations.c.expires_at)
    )
    return (await session.execute(statement)).one(), token


def _pending() -> Any:
    return and_(
        invitations.c.accepted_at.is_(None),
        invitations.c.revoked_at.is_(None),
        invitations.c.expires_at > func.now(),
    )


async def list_invitations(
    session: AsyncSession, organization_id: uuid.UUID, page: PageRequest
) -> Page[InvitationOut]:
    statement = select(
        invitations.c.id,
        invitations.c.email,
        invitations.c.role,
        invitations.c.created_at,
        invitations.c.expires_at,
    ).where(invitations.c.organization_id == organization_id, _pending())
    statement = page.apply(statement, invitations.c.created_at, invitations.c.id)
    rows = (await session.execute(statement)).all()
    return page.page(rows, lambda row: (row.created_at, row.id), lambda row: InvitationOut(**row._mapping))


async def revoke_invitation(
    session: AsyncSession, organization_id: uuid.UUID, invitation_id: uuid.UUID
) -> bool:
    """Revoke a not yet accepted invitation; ``False`` when there was none to revoke."""
    statement = (
        update(invitations)
        .where(
            invitations.c.id == invitation_id,
            invitations.c.organization_id == organization_id,
            invitations.c.accepted_at.is_(None),
            invitations.c.revoked_at.is_(None),
        )
        .values(revoked_at=func.now())
        .returning(invitations.c.id)
    )
    return (await session.execute(statement)).one_or_none() is not None


async def explain_revoke_refusal(
    session: AsyncSession, organization_id: uuid.UUID, invitation_id: uuid.UUID
) -> Exception | None:
    """Why :func:`revoke_invitation` changed nothing: ``None`` when it was revoked already."""
    row = (
        await session.execute(
            select(invitations.c.accepted_at, invitations.c.revoked_at).where(
                invitations.c.id == invitation_id, invitations.c.organization_id == organization_id
            )
        )
    ).one_or_none()
    if row is None:
        return NotFound("No such invitation in this organization")
    if row.revoked_at is not None:
        return None
    return Conflict("The invitation was accepted already")


async def accept_invitation(session: AsyncSession, token: str, email_canonical: str) -> AnyRow | None:
    """Spend a pending invitation addressed to ``email_canonical`` (:func:`erp_db.canonical_email`'s form).

    One statement spends it and reads its organisation; of two concurrent
    acceptances of one token, one finds it spent. ``None`` for every
    refusal alike (unknown, spent, revoked, expired, another's, archived).
    """
    statement = (
        update(invitations)
        .where(
            invitations.c.token_hash == hash_token(token),
            _pending(),
            invitations.c.email_canonical == email_canonical,
            organizations.c.id == invitations.c.organization_id,
            organizations.c.archived_at.is_(None),
        )
        .values(accepted_at=func.now())
        .returning(
            *ORGANIZATION_COLUMNS,
            invitations.c.id.label("invitation_id"),
            invitations.c.role.label("invited_role"),
        )
    )
    return (await session.execute(statement)).one_or_none()


async def role_of(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID) -> str:
    role: str = (
        await session.execute(
            select(memberships.c.role).where(
                memberships.c.organization_id == organization_id, memberships.c.user_id == user_id
            )
        )
    ).scalar_one()
    return role


# --- audit events -----------------------------------------------------------------------------


async def list_audit_events(
    session: AsyncSession, organization_id: uuid.UUID, page: PageRequest
) -> Page[AuditEventOut]:
    statement = select(*audit_events.c).where(audit_events.c.organization_id == organization_id)
    statement = page.apply(statement, audit_events.c.occurred_at, audit_events.c.id, newest_first=True)
    rows = (await session.execute(statement)).all()
    return page.page(rows, lambda row: (row.occurred_at, row.id), lambda row: AuditEventOut(**row._mapping))
