"""Who may do what in an organisation: the one dependency of every ``/organizations/{id}`` route.

docs/contract.md §10: someone who is not a member gets **404** for everything
under ``/organizations/{organization_id}`` (the organisation's existence is
not revealed); a member lacking the role gets 403. One statement reads the
membership and the organisation together, so a route has both for free::

    @router.get("/organizations/{organization_id}")
    async def read(access: MemberAccess) -> OrganizationOut: ...

:func:`require_role` marks what it builds (:data:`ACCESS_MARKER`), and a test
walks every route of the application under that path to prove each one
depends on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Path

from erp_api.dependencies import SessionDep
from erp_api.errors import Forbidden, NotFound
from erp_api.features.identity import CurrentUser
from erp_api.features.organizations import queries
from erp_api.features.organizations.schemas import OrganizationOut, Role
from erp_db import User

ACCESS_MARKER: Final = "__organization_access__"

OrganizationId = Annotated[uuid.UUID, Path(description="The organisation's id.")]


@dataclass(frozen=True, slots=True)
class OrganizationAccess:
    """The caller, their role, and the organisation as it was read (its ``version`` included)."""

    user: User
    role: Role
    organization: queries.AnyRow

    @property
    def organization_id(self) -> uuid.UUID:
        organization_id: uuid.UUID = self.organization.id
        return organization_id

    @property
    def version(self) -> int:
        version: int = self.organization.version
        return version

    def out(self) -> OrganizationOut:
        return queries.organization_out(self.organization, self.role)


def require_role(minimum: Role, *, lock: bool = False) -> Callable[..., Awaitable[OrganizationAccess]]:
    """A dependency: the caller's access to ``{organization_id}`` with at least ``minimum``.

    ``lock`` holds the organisation row for the rest of the request's
    transaction: the routes that change memberships use it, so the
    last-owner rule holds under concurrent requests.
    """

    async def organization_access(
        organization_id: OrganizationId, user: CurrentUser, session: SessionDep
    ) -> OrganizationAccess:
        row = await queries.organization_with_role(session, organization_id, user.id, lock=lock)
        if row is None:
            raise NotFound("Organization not found")
        role = Role(row.role)
        if not role.at_least(minimum):
            raise Forbidden(f"This needs the {minimum.value} role in the organization")
        return OrganizationAccess(user=user, role=role, organization=row)

    setattr(organization_access, ACCESS_MARKER, minimum)
    return organization_access


MemberAccess = Annotated[OrganizationAccess, Depends(require_role(Role.MEMBER))]
AdminAccess = Annotated[OrganizationAccess, Depends(require_role(Role.ADMIN))]
OwnerAccess = Annotated[OrganizationAccess, Depends(require_role(Role.OWNER))]
# The routes that change memberships: serialised per organisation (see queries).
MemberAccessLocked = Annotated[OrganizationAccess, Depends(require_role(Role.MEMBER, lock=True))]
AdminAccessLocked = Annotated[OrganizationAccess, Depends(require_role(Role.ADMIN, lock=True))]
