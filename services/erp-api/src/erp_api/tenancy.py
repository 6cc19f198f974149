"""Who may do what under an organisation: the one access dependency of every ``/organizations/{id}`` route.

docs/contract.md §10 and §13. A route under ``/organizations/{organization_id}``
declares what it needs, and gets the caller, their role and the row it is
about, read together in **one statement** (the user is active, the user is
a member, the organisation, and the row named by the path)::

    CustomerAccess = Annotated[Access, Depends(organization_access(Role.MEMBER, CUSTOMERS))]

    @router.get("/organizations/{organization_id}/customers/{customer_id}")
    async def read(access: CustomerAccess) -> CustomerOut: ...

- the access token is missing or invalid, or its user was deactivated → 401;
- the caller is no member → 404 for everything under the organisation (its
  existence is not revealed), whatever their memberships elsewhere;
- the path names a row (``{customer_id}``) that does not exist *or belongs
  to another organisation* → the same 404: the row is joined on its id
  **and** the organisation, so another tenant's row is simply not found;
- the caller's role is below the route's → 403.

``lock=True`` holds the organisation row (``FOR NO KEY UPDATE``) for the
rest of the transaction: routes whose rule spans rows (the last owner)
serialise on it. Each statement is built once, when the route is declared,
and executed with bound parameters, so a request pays for no SQL
construction. :data:`ACCESS_MARKER` marks what this module builds: a test
walks every route under ``/organizations/{organization_id}`` to prove each
one depends on it.
"""

from __future__ import annotations

import enum
import inspect
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, TypeAlias

from fastapi import Depends, Path, Request
from sqlalchemy import Row, Select, Table, and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api.dependencies import SessionDep
from erp_api.errors import Conflict, Forbidden, NotFound, Unauthorized
from erp_api.features.identity.dependencies import INVALID_OR_EXPIRED, INVALID_TOKEN, bearer_token, caller_id
from erp_db import Membership, Organization, User

ACCESS_MARKER: Final = "__organization_access__"
ARCHIVED: Final = "An archived organization cannot be changed"

# A result row of any shape (the statements choose their columns).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]
OrganizationId = Annotated[uuid.UUID, Path(description="The organisation's id.")]

organizations: Final[Table] = Organization.__table__  # type: ignore[assignment]
memberships: Final[Table] = Membership.__table__  # type: ignore[assignment]
users: Final[Table] = User.__table__  # type: ignore[assignment]


class Role(enum.StrEnum):
    """A member's role; each one may do everything the ones before it may."""

    MEMBER = "member"
    ADMIN = "admin"
    OWNER = "owner"

    def at_least(self, other: Role) -> bool:
        return _RANKS[self] >= _RANKS[other]


_RANKS: Final = {Role.MEMBER: 0, Role.ADMIN: 1, Role.OWNER: 2}


@dataclass(frozen=True, slots=True)
class Resource:
    """Rows that belong to an organisation (column ``organization_id``), named in paths by ``path_param``."""

    table: Table
    path_param: str
    not_found: str


@dataclass(frozen=True, slots=True)
class Access:
    """The caller, their role, and the row the route is about, as the access statement read them.

    ``row`` is the organisation's row on the organisation's own routes, else
    the resource's (``None`` on routes that name no row: lists, creations).
    """

    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: Role
    organization_archived: bool
    row: Any  # an AnyRow, or None on routes that name no row

    @property
    def version(self) -> int:
        version: int = self.row.version
        return version

    def refuse_if_archived(self) -> None:
        """An archived organisation is read-only: every change under it is a 409."""
        if self.organization_archived:
            raise Conflict(ARCHIVED)


def access_statement(resource: Resource | None, *, names_row: bool, lock: bool) -> Select[Any]:
    """The one statement of :func:`organization_access` (exposed for tests and ``EXPLAIN``)."""
    statement = select(memberships.c.role, organizations.c.archived_at.label("organization_archived_at"))
    statement = statement.select_from(
        memberships.join(users, and_(users.c.id == memberships.c.user_id, users.c.is_active)).join(
            organizations, organizations.c.id == memberships.c.organization_id
        )
    )
    if resource is None:
        statement = statement.add_columns(*organizations.c)
    elif names_row:
        table = resource.table
        statement = statement.add_columns(*table.c).outerjoin(
            table,
            and_(table.c.id == bindparam("row_id"), table.c.organization_id == memberships.c.organization_id),
        )
    statement = statement.where(
        memberships.c.organization_id == bindparam("organization_id"),
        memberships.c.user_id == bindparam("user_id"),
    )
    return statement.with_for_update(of=organizations, key_share=True) if lock else statement


_USER_IS_ACTIVE: Final = select(users.c.is_active).where(users.c.id == bindparam("user_id"))


def organization_access(
    minimum: Role, resource: Resource | None = None, *, names_row: bool = True, lock: bool = False
) -> Callable[..., Awaitable[Access]]:
    """The dependency: the caller's :class:`Access` to ``{organization_id}`` (and the resource's row).

    With a ``resource`` and ``names_row`` (the default), the route's path has
    ``{resource.path_param}``; ``names_row=False`` is for the resource's list
    and create routes, which only need the membership.
    """
    statement = access_statement(resource, names_row=names_row, lock=lock)
    row_param = resource.path_param if resource is not None and names_row else None
    not_found = resource.not_found if resource is not None else ""

    async def dependency(
        request: Request,
        organization_id: OrganizationId,
        session: SessionDep,
        token: Annotated[str | None, Depends(bearer_token)],
        **row_id: uuid.UUID,
    ) -> Access:
        user_id = caller_id(request, token)
        parameters = {"organization_id": organization_id, "user_id": user_id}
        if row_param is not None:
            parameters["row_id"] = row_id[row_param]
        found = (await session.execute(statement, parameters)).first()
        if found is None:
            raise await _refusal(session, user_id)
        if row_param is not None and found.id is None:
            raise NotFound(not_found)
        role = Role(found.role)
        if not role.at_least(minimum):
            raise Forbidden(f"This needs the {minimum.value} role in the organization")
        return Access(
            user_id=user_id,
            organization_id=organization_id,
            role=role,
            organization_archived=found.organization_archived_at is not None,
            row=found if resource is None or row_param is not None else None,
        )

    # FastAPI reads the parameters from the signature: not **row_id, but the row's path parameter.
    signature = inspect.signature(dependency)
    declared = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    if row_param is not None:
        row_path = Annotated[uuid.UUID, Path(description="The id of the row.")]
        declared.append(inspect.Parameter(row_param, inspect.Parameter.KEYWORD_ONLY, annotation=row_path))
    dependency.__signature__ = signature.replace(parameters=declared)  # type: ignore[attr-defined]
    setattr(dependency, ACCESS_MARKER, minimum)
    return dependency


async def _refusal(session: AsyncSession, user_id: uuid.UUID) -> Exception:
    """Why the access statement found nothing: no active user (401) or no membership (404)."""
    if await session.scalar(_USER_IS_ACTIVE, {"user_id": user_id}):
        return NotFound("Organization not found")
    return Unauthorized(INVALID_OR_EXPIRED, headers=INVALID_TOKEN)
