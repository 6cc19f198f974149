"""Who may do what under an organisation: the access dependencies of every ``/organizations/{id}`` route.

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

A route that only creates a row (``POST`` to a resource's collection)
declares :func:`organization_claim` instead: the check then runs *inside*
the create's own ``INSERT`` (:func:`claim_guard`, through
:func:`erp_api.versioned.insert_row`'s ``claim``), so the happy path is one
statement. When nothing was inserted, :meth:`Claim.refusal` reads why,
with the same answers as above, and the archived organisation's 409. The
claim fails closed: a route that ends without its guarded ``INSERT``
having run (it forgot ``claim=``, or wrote otherwise) is answered with the
claim's refusal (an outsider's 404), else a 500, and its transaction is
rolled back.

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
import functools
import inspect
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, TypeAlias

from fastapi import Depends, Path, Request
from sqlalchemy import Exists, Row, Select, Table, and_, bindparam, exists, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api.dependencies import SessionDep, unit_of_work_stack
from erp_api.errors import Conflict, Forbidden, NotFound, Unauthorized
from erp_api.features.identity.dependencies import INVALID_OR_EXPIRED, INVALID_TOKEN, bearer_token, caller_id
from erp_db import Membership, Organization, User

ACCESS_MARKER: Final = "__organization_access__"
CLAIM: Final = "erp.claim"  # the request scope key of a create route's Claim
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
        role = _role_at_least(found, minimum)
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


@dataclass(slots=True)
class Claim:
    """The caller's claim to create under ``{organization_id}``, checked by the create's own statement.

    What :func:`organization_claim` gives: the caller is only known from
    their token, and nothing has been read yet. The ``INSERT`` made with
    ``insert_row(..., claim=claim)`` writes only where :func:`claim_guard`
    holds, and settles the claim; when it wrote nothing, :meth:`refusal`
    says why. An error answered before then (an invalid body: 422) waits
    for :func:`refusal_of_unsettled_claim`, so that a non-member still
    gets the 404 of everything under an organisation.
    """

    user_id: uuid.UUID
    organization_id: uuid.UUID
    minimum: Role
    session: AsyncSession
    settled: bool = False

    def parameters(self) -> dict[str, uuid.UUID]:
        """The values of :func:`claim_guard`'s parameters."""
        return {"claim_organization_id": self.organization_id, "claim_user_id": self.user_id}

    async def refusal(self, session: AsyncSession) -> Exception | None:
        """Why the guarded write found the claim wanting: 401, 404, 403 or 409; ``None`` if it holds now."""
        parameters = {"organization_id": self.organization_id, "user_id": self.user_id}
        found = (await session.execute(_MEMBERSHIP, parameters)).first()
        if found is None:
            return await _refusal(session, self.user_id)
        try:
            _role_at_least(found, self.minimum)
        except Forbidden as forbidden:
            return forbidden
        return Conflict(ARCHIVED) if found.organization_archived_at is not None else None


_MEMBERSHIP: Final = access_statement(None, names_row=False, lock=False)


@functools.cache
def claim_guard(minimum: Role) -> Exists:
    """``EXISTS`` (an active caller, a member at ``minimum`` or above, of a live organisation).

    The condition :func:`organization_access` and ``refuse_if_archived``
    check, for a statement to carry: parameters ``claim_organization_id``
    and ``claim_user_id`` (:meth:`Claim.parameters`). The roles are written
    into the SQL: they are this module's own constants, and an ``IN`` of
    bound values would be expanded on every execution.
    """
    roles = ", ".join(f"'{role.value}'" for role in Role if role.at_least(minimum))
    return exists().where(
        memberships.c.organization_id == bindparam("claim_organization_id"),
        memberships.c.user_id == bindparam("claim_user_id"),
        memberships.c.role.bool_op("IN")(literal_column(f"({roles})")),
        users.c.id == memberships.c.user_id,
        users.c.is_active,
        organizations.c.id == memberships.c.organization_id,
        organizations.c.archived_at.is_(None),
    )


def organization_claim(minimum: Role) -> Callable[..., Awaitable[Claim]]:
    """The dependency of a create route: the caller's :class:`Claim` at ``minimum``, read from the token only.

    Nothing is checked until the route's guarded ``INSERT`` runs. Should the
    route end without it, :func:`_require_settled` (on the unit of work's
    exit stack, so before its commit) raises the claim's refusal, else
    :class:`UnsettledClaim`.
    """

    async def dependency(
        request: Request,
        organization_id: OrganizationId,
        token: Annotated[str | None, Depends(bearer_token)],
        session: SessionDep,
    ) -> Claim:
        claim = Claim(caller_id(request, token), organization_id, minimum, session)
        request.scope[CLAIM] = claim
        # Pushed after the session's scope, so it runs first on exit: a raise here rolls back.
        unit_of_work_stack(request).push_async_exit(functools.partial(_require_settled, claim))
        return claim

    setattr(dependency, ACCESS_MARKER, minimum)
    return dependency


class UnsettledClaim(RuntimeError):
    """A create route ended without the guarded ``INSERT`` that checks its claim: a bug in the route."""


async def _require_settled(claim: Claim, exc_type: type[BaseException] | None, *_: object) -> None:
    """On the route's normal end, refuse an unsettled claim: nothing it did may commit or be answered.

    Runs before the session's scope ends, so what it raises rolls the route's
    writes back: the claim's refusal when there is one (an outsider's 404),
    else :class:`UnsettledClaim`, the 500 of a bug. An error already on its
    way is left to the exception handlers, which settle the claim themselves.
    """
    if exc_type is not None or claim.settled:
        return
    claim.settled = True
    refusal = await claim.refusal(claim.session)
    raise refusal or UnsettledClaim("the route never ran its guarded INSERT: pass claim= to insert_row")


async def refusal_of_unsettled_claim(request: Request) -> Exception | None:
    """Before an error answer: the refusal of a claim the request's ``INSERT`` did not settle, if any.

    Called by the application's exception handlers, so that what a create
    route refuses before its statement ran (its body, say) is answered as
    the claim would have been first: 401, 404, 403 or 409.
    """
    claim = request.scope.get(CLAIM)
    if not isinstance(claim, Claim) or claim.settled:
        return None
    claim.settled = True
    try:  # the request's own session (an override's too), ended by the error already: used once more
        return await claim.refusal(claim.session)
    finally:
        await claim.session.close()


def _role_at_least(found: AnyRow, minimum: Role) -> Role:
    role = Role(found.role)
    if not role.at_least(minimum):
        raise Forbidden(f"This needs the {minimum.value} role in the organization")
    return role


async def _refusal(session: AsyncSession, user_id: uuid.UUID) -> Exception:
    """Why the access statement found nothing: no active user (401) or no membership (404)."""
    if await session.scalar(_USER_IS_ACTIVE, {"user_id": user_id}):
        return NotFound("Organization not found")
    return Unauthorized(INVALID_OR_EXPIRED, headers=INVALID_TOKEN)
