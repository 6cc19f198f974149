"""The organisation routes (docs/contract.md §10), each read top-down: access, statement, audit, answer.

Every route under ``/organizations/{organization_id}`` takes an access
dependency of :mod:`erp_api.tenancy`; every change writes its audit event
in the request's own transaction.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Final

from fastapi import Body, Depends, Header, Query, Request, Response, status

from erp_api.answers import answer, path_for
from erp_api.audit import Event, created, record_events
from erp_api.dependencies import SessionDep
from erp_api.errors import Conflict, Forbidden, NotFound
from erp_api.features.identity import Caller
from erp_api.features.organizations import invitations, queries
from erp_api.features.organizations.schemas import (
    AuditEventOut,
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    InvitationOut,
    MemberOut,
    MemberPatch,
    OrganizationCreate,
    OrganizationOut,
    OrganizationPatch,
)
from erp_api.pagination import Page, PageRequest, page_request
from erp_api.preconditions import etag, not_modified
from erp_api.routes.feature_router import FeatureRouter
from erp_api.tenancy import Access, Role, organization_access, organizations
from erp_api.versioned import archive_row, merge_patch, merge_patch_body

router = FeatureRouter(tags=["organizations"])

MemberAccess = Annotated[Access, Depends(organization_access(Role.MEMBER))]
AdminAccess = Annotated[Access, Depends(organization_access(Role.ADMIN))]
OwnerAccess = Annotated[Access, Depends(organization_access(Role.OWNER))]
# The routes that change memberships: serialised per organisation (see queries).
MemberAccessLocked = Annotated[Access, Depends(organization_access(Role.MEMBER, lock=True))]
AdminAccessLocked = Annotated[Access, Depends(organization_access(Role.ADMIN, lock=True))]

SLUG_TAKEN: Final = {"uq_organizations_slug": ("That slug is taken", ("body", "slug"))}


def organization_answer(access: Access, row: Any = None) -> Response:
    """The organisation (``row``, else the one the access read) with the caller's role and its ``ETag``."""
    row = access.row if row is None else row
    return answer(queries.organization_out(row, access.role), headers={"ETag": etag(row.version)})


@router.post("/organizations", status_code=status.HTTP_201_CREATED, response_model=OrganizationOut)
async def create_organization(
    body: OrganizationCreate, user: Caller, session: SessionDep, request: Request
) -> Response:
    """Create an organisation; the caller becomes its owner."""
    row = await queries.create_organization(session, name=body.name, slug=body.slug)
    if row is None:
        raise Conflict("That slug is taken", loc=("body", "slug"))
    await queries.add_member(session, row.id, user.id, Role.OWNER)
    await record_events(
        session,
        Event("organization.created", user.id, "organization", row.id, row.id, created(body.model_dump())),
        Event("membership.created", user.id, "membership", user.id, row.id, created({"role": Role.OWNER})),
    )
    location = path_for(request, "read_organization", organization_id=str(row.id))
    headers = {"Location": location, "ETag": etag(row.version)}
    return answer(
        queries.organization_out(row, Role.OWNER), status_code=status.HTTP_201_CREATED, headers=headers
    )


@router.get("/organizations", response_model=Page[OrganizationOut])
async def list_organizations(
    user: Caller,
    session: SessionDep,
    page: Annotated[PageRequest, Depends(page_request("organizations"))],
    include_archived: Annotated[bool, Query(description="Include archived organisations.")] = False,
) -> Response:
    """The caller's organisations, oldest first."""
    return answer(await queries.list_organizations(session, user.id, page, include_archived=include_archived))


@router.get(
    "/organizations/{organization_id}",
    response_model=OrganizationOut,
    responses={304: {"description": "Not modified: `If-None-Match` names the current `ETag`."}},
)
async def read_organization(
    access: MemberAccess, if_none_match: Annotated[str | None, Header()] = None
) -> Response:
    """The organisation, with its `ETag`; `If-None-Match` with that tag answers 304."""
    return not_modified(if_none_match, access.version) or organization_answer(access)


@router.patch(
    "/organizations/{organization_id}",
    response_model=OrganizationOut,
    openapi_extra=merge_patch_body("OrganizationPatch"),
)
async def update_organization(
    access: AdminAccess,
    session: SessionDep,
    body: Annotated[OrganizationPatch, Body()],
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Change the name or slug (JSON merge patch); needs `If-Match` with the current `ETag`."""
    row, changes = await merge_patch(
        session,
        organizations,
        access,
        body.changes(),
        if_match,
        what="organization",
        conflicts=SLUG_TAKEN,
    )
    if changes:
        await record_events(
            session, Event("organization.updated", access.user_id, "organization", row.id, row.id, changes)
        )
    return organization_answer(access, row)


@router.delete("/organizations/{organization_id}", status_code=status.HTTP_204_NO_CONTENT)
async def archive_organization(access: OwnerAccess, session: SessionDep) -> None:
    """Archive the organisation (owner); archiving again changes nothing."""
    row = await archive_row(session, organizations, access.organization_id)
    if row is not None:
        changes = {"archived_at": (None, row.archived_at)}
        await record_events(
            session, Event("organization.archived", access.user_id, "organization", row.id, row.id, changes)
        )


# --- members ----------------------------------------------------------------------------------


@router.get("/organizations/{organization_id}/members", response_model=Page[MemberOut])
async def list_members(
    access: MemberAccess, session: SessionDep, page: Annotated[PageRequest, Depends(page_request("members"))]
) -> Response:
    """The organisation's members, in the order they joined."""
    return answer(await queries.list_members(session, access.organization_id, page))


@router.patch("/organizations/{organization_id}/members/{user_id}")
async def change_member_role(
    access: AdminAccessLocked, user_id: uuid.UUID, body: MemberPatch, session: SessionDep
) -> MemberOut:
    """Change a member's role (admin); owners are made and changed by owners only."""
    access.refuse_if_archived()
    row = await queries.change_role(session, access.organization_id, user_id, body.role, by=access.user_id)
    if row is None:
        raise await queries.explain_member_refusal(
            session, access.organization_id, user_id, by=access.user_id, new_role=body.role
        )
    if row.old_role != body.role.value:
        await record_events(
            session,
            Event(
                "membership.updated",
                access.user_id,
                "membership",
                user_id,
                access.organization_id,
                {"role": (row.old_role, body.role.value)},
            ),
        )
    return queries.member_out(row)


@router.delete("/organizations/{organization_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(access: MemberAccessLocked, user_id: uuid.UUID, session: SessionDep) -> None:
    """Remove a member (admin; an owner by an owner), or leave (anyone); the last owner stays."""
    access.refuse_if_archived()
    old_role = await queries.remove_member(session, access.organization_id, user_id, by=access.user_id)
    if old_role is None:
        raise await queries.explain_member_refusal(
            session, access.organization_id, user_id, by=access.user_id
        )
    await record_events(
        session,
        Event(
            "membership.deleted",
            access.user_id,
            "membership",
            user_id,
            access.organization_id,
            {"role": (old_role, None)},
        ),
    )


# --- invitations ------------------------------------------------------------------------------


@router.post("/organizations/{organization_id}/invitations", status_code=status.HTTP_201_CREATED)
async def create_invitation(
    access: AdminAccess, body: InvitationCreate, session: SessionDep
) -> InvitationCreated:
    """Invite an email address (admin; an owner invitation by an owner only).

    The answer is the same whether or not the address has an account, and it
    is the only one that shows the token.
    """
    if body.role is Role.OWNER and access.role is not Role.OWNER:
        raise Forbidden("Only an owner may invite an owner")
    access.refuse_if_archived()
    row, token = await invitations.create_invitation(
        session, access.organization_id, email=body.email, role=body.role, created_by=access.user_id
    )
    await record_events(
        session,
        Event(
            "invitation.created",
            access.user_id,
            "invitation",
            row.id,
            access.organization_id,
            created({"email": row.email, "role": row.role}),
        ),
    )
    return InvitationCreated(
        id=row.id, email=row.email, role=row.role, token=token, expires_at=row.expires_at
    )


@router.get("/organizations/{organization_id}/invitations", response_model=Page[InvitationOut])
async def list_invitations(
    access: AdminAccess,
    session: SessionDep,
    page: Annotated[PageRequest, Depends(page_request("invitations"))],
) -> Response:
    """The pending invitations (admin), oldest first; never their tokens."""
    return answer(await invitations.list_invitations(session, access.organization_id, page))


@router.delete(
    "/organizations/{organization_id}/invitations/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT
)
async def revoke_invitation(access: AdminAccess, invitation_id: uuid.UUID, session: SessionDep) -> None:
    """Revoke an invitation (admin); revoking again changes nothing."""
    access.refuse_if_archived()
    revoked = await invitations.revoke_invitation(session, access.organization_id, invitation_id)
    if not revoked:
        refusal = await invitations.explain_revoke_refusal(session, access.organization_id, invitation_id)
        if refusal is not None:
            raise refusal
        return
    await record_events(
        session,
        Event(
            "invitation.revoked",
            access.user_id,
            "invitation",
            invitation_id,
            access.organization_id,
            {"revoked": (False, True)},
        ),
    )


@router.post("/invitations/accept")
async def accept_invitation(body: InvitationAccept, user: Caller, session: SessionDep) -> OrganizationOut:
    """Join the organisation of an invitation addressed to the caller's email."""
    row = await invitations.accept_invitation(session, body.token, user.email_canonical)
    if row is None:  # unknown, spent, revoked, expired or someone else's: one answer
        raise NotFound("Invitation not found")
    joined = await queries.add_member(session, row.id, user.id, Role(row.invited_role))
    role = row.invited_role if joined else await queries.role_of(session, row.id, user.id)
    events = [Event("invitation.accepted", user.id, "invitation", row.invitation_id, row.id)]
    if joined:
        events.append(
            Event("membership.created", user.id, "membership", user.id, row.id, created({"role": role}))
        )
    await record_events(session, *events)
    return queries.organization_out(row, role)


# --- audit events -----------------------------------------------------------------------------


@router.get("/organizations/{organization_id}/audit-events", response_model=Page[AuditEventOut])
async def list_audit_events(
    access: AdminAccess,
    session: SessionDep,
    page: Annotated[PageRequest, Depends(page_request("audit-events"))],
) -> Response:
    """The organisation's audit events (admin), newest first."""
    return answer(await queries.list_audit_events(session, access.organization_id, page))
