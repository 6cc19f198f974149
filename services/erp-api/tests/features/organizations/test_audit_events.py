"""The audit log: one event per change, in the change's transaction, append-only (docs/contract.md §10)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi import APIRouter
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from erp_api import SessionDep, create_app
from erp_api.audit import Event, record_events
from erp_api.errors import Conflict
from erp_api_testing import serve_in_process
from erp_api_testing.identity import bearer_headers, insert_user
from erp_api_testing.organizations import API, Caller, OrganizationsApi
from erp_db import AuditEvent, engine_from_settings

MakeCaller = Callable[..., Awaitable[Caller]]


async def events_of(api: OrganizationsApi, organization_id: str, caller: Caller) -> list[dict[str, Any]]:
    response = await api.client.get(
        f"{API}/organizations/{organization_id}/audit-events", headers=caller.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_every_change_writes_one_event_newest_first(
    committing_api: OrganizationsApi, make_committed_caller: MakeCaller
) -> None:
    # Committed, request by request: an order in time needs transactions of their own.
    api = committing_api
    owner, invitee = await make_committed_caller(), await make_committed_caller()
    organization = await api.create_organization(owner, name="Before")
    org_url = f"{API}/organizations/{organization['id']}"
    await api.client.patch(org_url, json={"name": "After"}, headers={**owner.headers, "If-Match": '"1"'})
    invitation = await api.invite(organization["id"], owner, invitee.email, "member")
    await api.client.post(
        f"{API}/invitations/accept", json={"token": invitation["token"]}, headers=invitee.headers
    )
    await api.client.patch(f"{org_url}/members/{invitee.id}", json={"role": "admin"}, headers=owner.headers)
    await api.client.delete(f"{org_url}/members/{invitee.id}", headers=owner.headers)
    revoked = await api.invite(organization["id"], owner, "later@example.org")
    await api.client.delete(f"{org_url}/invitations/{revoked['id']}", headers=owner.headers)
    await api.client.delete(org_url, headers=owner.headers)

    events = await events_of(api, organization["id"], owner)
    actions = [event["action"] for event in reversed(events)]  # oldest first, to read as a story
    # Events of one transaction share its timestamp; their order among themselves is not defined.
    assert sorted(actions[:2]) == ["membership.created", "organization.created"]
    assert actions[2:4] == ["organization.updated", "invitation.created"]
    assert sorted(actions[4:6]) == ["invitation.accepted", "membership.created"]
    assert actions[6:] == [
        "membership.updated",
        "membership.deleted",
        "invitation.created",
        "invitation.revoked",
        "organization.archived",
    ]
    by_action = {event["action"]: event for event in events}
    assert by_action["organization.updated"]["changes"] == {"name": ["Before", "After"]}
    assert by_action["membership.updated"]["changes"] == {"role": ["member", "admin"]}
    assert by_action["membership.updated"]["target_id"] == str(invitee.id)
    assert by_action["membership.deleted"]["changes"] == {"role": ["admin", None]}
    assert by_action["organization.created"]["actor_user_id"] == str(owner.id)
    assert all(event["organization_id"] == organization["id"] for event in events)
    assert all(event["request_id"] for event in events)
    assert invitation["token"] not in str(events)
    occurred = [event["occurred_at"] for event in events]
    assert occurred == sorted(occurred, reverse=True)

    paged, cursor = [], None  # two at a time, through the cursor's newest-first comparison
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await api.client.get(f"{org_url}/audit-events", params=params, headers=owner.headers)).json()
        paged, cursor = paged + page["items"], page["next_cursor"]
        if cursor is None:
            break
    assert paged == events


async def test_events_carry_the_request_id(api: OrganizationsApi, make_caller: MakeCaller) -> None:
    owner = await make_caller()
    request_id = f"audit-{uuid.uuid4().hex}"
    response = await api.client.post(
        f"{API}/organizations",
        json={"name": "Acme", "slug": f"org-{uuid.uuid4().hex[:12]}"},
        headers={**owner.headers, "X-Request-ID": request_id},
    )
    events = await events_of(api, response.json()["id"], owner)
    assert {event["request_id"] for event in events} == {request_id}


async def test_audit_events_are_for_admins(api: OrganizationsApi, make_caller: MakeCaller) -> None:
    owner, member = await make_caller(), await make_caller()
    organization = await api.create_organization(owner)
    await api.add_member(organization["id"], owner, member)
    response = await api.client.get(
        f"{API}/organizations/{organization['id']}/audit-events", headers=member.headers
    )
    assert response.status_code == 403


async def test_a_rolled_back_change_leaves_no_event(make_settings: Any, erp_db_engine: AsyncEngine) -> None:
    target = uuid.uuid4()
    app = create_app(make_settings())
    failing = APIRouter()

    @failing.post("/test-only/audited-failure")
    async def audited_failure(session: SessionDep) -> None:
        await record_events(session, Event("organization.updated", None, "organization", target, target))
        raise Conflict("the change fails after its event was written")

    app.include_router(failing)
    async with serve_in_process(app) as client:
        response = await client.post("/test-only/audited-failure")
    assert response.status_code == 409
    async with erp_db_engine.connect() as connection:
        count = await connection.scalar(select(func.count()).where(AuditEvent.target_id == target))
    assert count == 0


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_events SET action = 'user.updated'", "DELETE FROM audit_events", "TRUNCATE audit_events"],
)
async def test_the_log_is_append_only_through_the_services_own_connection(
    make_settings: Any, statement: str
) -> None:
    settings = make_settings()
    engine = engine_from_settings(settings.database, application_name=settings.app_name)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO audit_events (id, action, target_type, target_id)"
                    " VALUES (:id, 'user.created', 'user', :id)"
                ),
                {"id": uuid.uuid4()},
            )
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as connection:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def test_user_events_have_no_organisation_and_never_a_password(
    api: OrganizationsApi, make_settings: Any, db_session: AsyncSession
) -> None:
    old_password, new_password = f"old-{uuid.uuid4().hex}", f"new-{uuid.uuid4().hex}"
    user = await insert_user(db_session, password=old_password, full_name="Before")
    admin = await insert_user(db_session, is_superuser=True)
    settings = make_settings()
    changed = await api.client.patch(
        f"{API}/users/me",
        json={"full_name": "After", "password": new_password, "current_password": old_password},
        headers=bearer_headers(settings, user.id),
    )
    assert changed.status_code == 200, changed.text
    created = await api.client.post(
        f"{API}/users",
        json={"email": f"made-{uuid.uuid4().hex[:12]}@example.org", "password": new_password},
        headers=bearer_headers(settings, admin.id),
    )
    assert created.status_code == 201, created.text

    rows = (
        await db_session.execute(
            select(
                AuditEvent.action, AuditEvent.organization_id, AuditEvent.changes, AuditEvent.actor_user_id
            )
            .where(AuditEvent.target_id.in_([user.id, uuid.UUID(created.json()["id"])]))
            .order_by(AuditEvent.action)
        )
    ).all()
    assert [(row.action, row.organization_id) for row in rows] == [
        ("user.created", None),
        ("user.updated", None),
    ]
    assert rows[1].changes == {"password": "changed", "full_name": ["Before", "After"]}
    assert rows[0].actor_user_id == admin.id
    assert not any(secret in str(rows) for secret in (old_password, new_password, "argon2"))
