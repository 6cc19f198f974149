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
Access (:mod:`erp_api.tenancy`), changes under ``If-Match`` and archiving
(:mod:`erp_api.versioned`) and paging are the kit's.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from sqlalchemy import Table, bindparam, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api.errors import Conflict, Forbidden, NotFound
from erp_api.features.organizations.schemas import (
    AuditEventOut,
    MemberOut,
    OrganizationOut,
)
from erp_api.pagination import PageRequest, RowPage, keyset
from erp_api.tenancy import AnyRow, Role, memberships, organizations, users
from erp_db import AuditEvent, Invitation

invitations: Table = Invitation.__table__  # type: ignore[assignment]
audit_events: Table = AuditEvent.__table__  # type: ignore[assignment]

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
    """The answer for a row read with :data:`ORGANIZATION_COLUMNS`: typed already, not validated again."""
    values = row._mapping
    return OrganizationOut.model_construct(
        **{column.name: values[column.name] for column in ORGANIZATION_COLUMNS}, role=Role(role)
    )


def member_out(row: AnyRow) -> MemberOut:
    values = row._mapping
    return MemberOut.model_construct(
        **{column.name: values[column.name] for column in MEMBER_COLUMNS if column.name != "role"},
        role=Role(values["role"]),
    )


# --- organisations ----------------------------------------------------------------------------


_MY_ORGANIZATIONS: Final = (
    select(*ORGANIZATION_COLUMNS, memberships.c.role)
    .join_from(memberships, organizations, memberships.c.organization_id == organizations.c.id)
    .where(memberships.c.user_id == bindparam("user_id"))
)
_ORGANIZATION_LISTS: Final = {  # by include_archived
    True: keyset(_MY_ORGANIZATIONS, organizations.c.created_at, organizations.c.id),
    False: keyset(
        _MY_ORGANIZATIONS.where(organizations.c.archived_at.is_(None)),
        organizations.c.created_at,
        organizations.c.id,
    ),
}


async def list_organizations(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest, *, include_archived: bool
) -> RowPage:
    return await page.fetch(
        session, _ORGANIZATION_LISTS[include_archived], OrganizationOut, {"user_id": user_id}
    )


# Built once, executed with bound parameters: a request pays for no SQL construction.
_CREATE_ORGANIZATION: Final = (
    insert(organizations)
    .values(id=bindparam("id"), name=bindparam("name"), slug=bindparam("slug"))
    .on_conflict_do_nothing(index_elements=[organizations.c.slug])
    .returning(*ORGANIZATION_COLUMNS)
)
_ADD_MEMBER: Final = (
    insert(memberships)
    .values(
        organization_id=bindparam("organization_id"), user_id=bindparam("user_id"), role=bindparam("role")
    )
    .on_conflict_do_nothing(index_elements=[memberships.c.organization_id, memberships.c.user_id])
    .returning(memberships.c.user_id)
)


async def create_organization(session: AsyncSession, *, name: str, slug: str) -> AnyRow | None:
    """The new organisation, or ``None`` when the slug is taken (nothing written then)."""
    values = {"id": uuid.uuid4(), "name": name, "slug": slug}
    return (await session.execute(_CREATE_ORGANIZATION, values)).one_or_none()


async def add_member(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID, role: Role
) -> bool:
    """Make ``user_id`` a member; ``False`` (and no change) when they already are one."""
    values = {"organization_id": organization_id, "user_id": user_id, "role": role.value}
    return (await session.execute(_ADD_MEMBER, values)).one_or_none() is not None


# --- members ----------------------------------------------------------------------------------


_MEMBERS: Final = keyset(
    select(*MEMBER_COLUMNS)
    .join_from(memberships, users, users.c.id == memberships.c.user_id)
    .where(memberships.c.organization_id == bindparam("organization_id")),
    memberships.c.created_at,
    memberships.c.user_id,
)


async def list_members(session: AsyncSession, organization_id: uuid.UUID, page: PageRequest) -> RowPage:
    return await page.fetch(session, _MEMBERS, MemberOut, {"organization_id": organization_id})


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


_AUDIT_EVENTS: Final = keyset(
    select(*audit_events.c).where(audit_events.c.organization_id == bindparam("organization_id")),
    audit_events.c.occurred_at,
    audit_events.c.id,
    newest_first=True,
)


async def list_audit_events(session: AsyncSession, organization_id: uuid.UUID, page: PageRequest) -> RowPage:
    return await page.fetch(session, _AUDIT_EVENTS, AuditEventOut, {"organization_id": organization_id})
