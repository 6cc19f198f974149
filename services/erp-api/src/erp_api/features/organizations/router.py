"""The organisation routes (docs/contract.md §10), each read top-down: route, permission, query, audit.

Every route under ``/organizations/{organization_id}`` takes one of the
access dependencies of :mod:`~erp_api.features.organizations.access`; every
list route takes :func:`~erp_api.pagination.page_request`; every change
writes its audit event through :func:`~erp_api.audit.record_events` in the
request's own transaction.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response, status

from erp_api.audit import Event, created, diff, record_events
from erp_api.dependencies import SessionDep
from erp_api.errors import Conflict, Forbidden, NotFound, PreconditionFailed
from erp_api.features.identity import CurrentUser
from erp_api.features.organizations import queries
from erp_api.features.organizations.access import (
    AdminAccess,
    AdminAccessLocked,
    MemberAccess,
    MemberAccessLocked,
    OwnerAccess,
)
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
    Role,
)
from erp_api.pagination import Page, PageRequest, page_request
from erp_api.preconditions import etag, expected_version, not_modified
from erp_core import get_request_id
from erp_db import enqueue_job

MERGE_PATCH = "application/merge-patch+json"

router = APIRouter(tags=["organizations"])

# A merge patch is documented as such; FastAPI parses any `+json` body as JSON.
_MERGE_PATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "content": {
            MERGE_PATCH: {"schema": {"$ref": "#/components/schemas/OrganizationPatch"}},
            "application/json": {"schema": {"$ref": "#/components/schemas/OrganizationPatch"}},
        },
        "required": True,
    }
}


# --- organisations ----------------------------------------------------------------------------


@router.post("/organizations", status_code=status.HTTP_201_CREATED)
async def create_organization(
    body: OrganizationCreate, user: CurrentUser, session: SessionDep, request: Request, response: Response
) -> OrganizationOut:
    """Create an organisation; the caller becomes its owner."""
    row = await queries.create_organization(session, name=body.name, slug=body.slug)
    if row is None:
        raise Conflict("That slug is taken", loc=("body", "slug"))
    await queries.add_member(session, row.id, user.id, Role.OWNER)
    await record_events(
        session,
        Event(
            "organization.created",
            user.id,
            "organization",
            row.id,
            row.id,
            created({"name": body.name, "slug": body.slug}),
        ),
        Event("membership.created", user.id, "membership", user.id, row.id, created({"role": Role.OWNER})),
    )
    response.headers["Location"] = str(request.url_for("read_organization", organization_id=row.id))
    response.headers["ETag"] = etag(row.version)
    return queries.organization_out(row, Role.OWNER)


@router.get("/organizations")
async def list_organizations(
    user: CurrentUser,
    session: SessionDep,
    page: Annotated[PageRequest, Depends(page_request("organizations"))],
    include_archived: Annotated[bool, Query(description="Include archived organisations.")] = False,
) -> Page[OrganizationOut]:
    """The caller's organisations, oldest first."""
    return await queries.list_organizations(session, user.id, page, include_archived=include_archived)


@router.get(
    "/organizations/{organization_id}",
    response_model=OrganizationOut,
    responses={304: {"description": "Not modified: `If-None-Match` names the current `ETag`."}},
)
async def read_organization(
    access: MemberAccess,
    response: Response,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Any:
    """The organisation, with its `ETag`; `If-None-Match` with that tag answers 304."""
    unchanged = not_modified(if_none_match, access.version)
    if unchanged is not None:
        return unchanged
    response.headers["ETag"] = etag(access.version)
    return access.out()


@router.patch("/organizations/{organization_id}", openapi_extra=_MERGE_PATCH_BODY)
async def update_organization(
    access: AdminAccess,
    session: SessionDep,
    response: Response,
    body: Annotated[OrganizationPatch, Body()],
    if_match: Annotated[str | None, Header()] = None,
) -> OrganizationOut:
    """Change the name or slug (JSON merge patch); needs `If-Match` with the current `ETag`."""
    expected = expected_version(if_match, access.version)
    if access.organization.archived_at is not None:
        raise Conflict("An archived organization cannot be changed")
    changes = diff(access.organization._asdict(), body.changes())
    if not changes:  # nothing to change: no new version, no event
        response.headers["ETag"] = etag(access.version)
        return access.out()
    row = await queries.update_organization(
        session, access.organization_id, expected_version=expected, values=body.changes()
    )
    if row is None:  # another change won the race since the read
        raise PreconditionFailed("The organization has changed since that ETag: read it again")
    await record_events(
        session,
        Event("organization.updated", access.user.id, "organization", row.id, row.id, changes),
    )
    response.headers["ETag"] = etag(row.version)
    return queries.organization_out(row, access.role)


@router.delete("/organizations/{organization_id}", status_code=status.HTTP_204_NO_CONTENT)
async def archive_organization(access: OwnerAccess, session: SessionDep) -> None:
    """Archive the organisation (owner); archiving again changes nothing."""
    row = await queries.archive_organization(session, access.organization_id)
    if row is not None:
        await record_events(
            session,
            Event(
                "organization.archived",
                access.user.id,
                "organization",
                row.id,
                row.id,
                {"archived_at": (None, row.archived_at)},
            ),
        )


# --- members ----------------------------------------------------------------------------------


@router.get("/organizations/{organization_id}/members")
async def list_members(
    access: MemberAccess,
    session: SessionDep,
    page: Annotated[PageRequest, Depends(page_request("members"))],
) -> Page[MemberOut]:
    """The organisation's members, in the order they joined."""
    return await queries.list_members(session, access.organization_id, page)


@router.patch("/organizations/{organization_id}/members/{user_id}")
async def change_member_role(
    access: AdminAccessLocked, user_id: uuid.UUID, body: MemberPatch, session: SessionDep
) -> MemberOut:
    """Change a member's role (admin); owners are made and changed by owners only."""
    row = await queries.change_role(session, access.organization_id, user_id, body.role, by=access.user.id)
    if row is None:
        raise await queries.explain_member_refusal(
            session, access.organization_id, user_id, by=access.user.id, new_role=body.role
        )
    if row.old_role != body.role.value:
        await record_events(
            session,
            Event(
                "membership.updated",
                access.user.id,
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
    old_role = await queries.remove_member(session, access.organization_id, user_id, by=access.user.id)
    if old_role is None:
        raise await queries.explain_member_refusal(
            session, access.organization_id, user_id, by=access.user.id
        )
    await record_events(
        session,
        Event(
            "membership.deleted",
            access.user.id,
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
    if access.organization.archived_at is not None:
        raise Conflict("An archived organization cannot be changed")
    row, token = await queries.create_invitation(
        session, access.organization_id, email=body.email, role=body.role, created_by=access.user.id
    )
    # The mail job, in this transaction (docs/contract.md §14); erp-worker erases the token once sent.
    payload = {"invitation_id": str(row.id), "email": row.email, "token": token}
    await enqueue_job(session, job="invitation.mail", payload=payload,
                      idempotency_key=f"invitation.mail:{row.id}", request_id=get_request_id())  # fmt: skip
    await record_events(
        session,
        Event(
            "invitation.created",
            access.user.id,
            "invitation",
            row.id,
            access.organization_id,
            created({"email": row.email, "role": row.role}),
        ),
    )
    return InvitationCreated(
        id=row.id, email=row.email, role=row.role, token=token, expires_at=row.expires_at
    )


@router.get("/organizations/{organization_id}/invitations")
async def list_invitations(
    access: AdminAccess,
    session: SessionDep,
    page: Annotated[PageRequest, Depends(page_request("invitations"))],
) -> Page[InvitationOut]:
    """The pending invitations (admin), oldest first; never their tokens."""
    return await queries.list_invitations(session, access.organization_id, page)


@router.delete(
    "/organizations/{organization_id}/invitations/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT
)
async def revoke_invitation(access: AdminAccess, invitation_id: uuid.UUID, session: SessionDep) -> None:
    """Revoke an invitation (admin); revoking again changes nothing."""
    revoked = await queries.revoke_invitation(session, access.organization_id, invitation_id)
    if not revoked:
        refusal = await queries.explain_revoke_refusal(session, access.organization_id, invitation_id)
        if refusal is not None:
            raise refusal
        return
    await record_events(
        session,
        Event(
            "invitation.revoked",
            access.user.id,
            "invitation",
            invitation_id,
            access.organization_id,
            {"revoked": (False, True)},
        ),
    )


@router.post("/invitations/accept")
async def accept_invitation(
    body: InvitationAccept, user: CurrentUser, session: SessionDep
) -> OrganizationOut:
    """Join the organisation of an invitation addressed to the caller's email."""
    row = await queries.accept_invitation(session, body.token, user.email)
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


@router.get("/organizations/{organization_id}/audit-events")
async def list_audit_events(
    access: AdminAccess,
    session: SessionDep,
    page: Annotated[PageRequest, Depends(page_request("audit-events"))],
) -> Page[AuditEventOut]:
    """The organisation's audit events (admin), newest first."""
    return await queries.list_audit_events(session, access.organization_id, page)
