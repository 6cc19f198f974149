"""Invitations: no enumeration, a token shown once and stored hashed, 7 days (docs/contract.md §10)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api_testing.organizations import API, Caller, OrganizationsApi
from erp_db import Invitation

MakeCaller = Callable[..., Awaitable[Caller]]


@pytest.fixture
async def owned(api: OrganizationsApi, make_caller: MakeCaller) -> tuple[dict[str, Any], Caller]:
    owner = await make_caller()
    return await api.create_organization(owner), owner


def invitations_url(organization: dict[str, Any]) -> str:
    return f"{API}/organizations/{organization['id']}/invitations"


async def test_the_answer_is_the_same_whether_or_not_the_email_has_an_account(
    api: OrganizationsApi, owned: tuple[dict[str, Any], Caller], make_caller: MakeCaller
) -> None:
    organization, owner = owned
    existing = await make_caller()
    answers = [
        await api.client.post(invitations_url(organization), json={"email": email}, headers=owner.headers)
        for email in (existing.email, "nobody-here@example.org")
    ]
    assert [answer.status_code for answer in answers] == [201, 201]
    assert [sorted(answer.json()) for answer in answers] == [
        ["email", "expires_at", "id", "role", "token"]
    ] * 2
    first, second = answers
    assert sorted(first.headers) == sorted(second.headers)


async def test_the_token_is_shown_once_stored_as_a_hash_and_lives_7_days(
    api: OrganizationsApi, owned: tuple[dict[str, Any], Caller], db_session: AsyncSession
) -> None:
    organization, owner = owned
    created = await api.invite(organization["id"], owner, "new@example.org", "admin")
    token = created["token"]
    assert len(token) >= 43  # 256 random bits, base64url

    listed = await api.client.get(invitations_url(organization), headers=owner.headers)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [created["id"]]
    assert token not in listed.text
    assert "token" not in listed.json()["items"][0]

    invitations = Invitation.__table__
    row = (await db_session.execute(select(invitations).where(invitations.c.id == created["id"]))).one()
    dump = (await db_session.execute(text("SELECT row_to_json(i)::text FROM invitations i"))).scalars().all()
    assert row.token_hash == hashlib.sha256(token.encode()).digest()
    assert not any(token in line for line in dump)
    lifetime = datetime.fromisoformat(created["expires_at"]) - row.created_at
    assert lifetime == timedelta(days=7)


async def test_only_an_owner_invites_an_owner(
    api: OrganizationsApi, owned: tuple[dict[str, Any], Caller], make_caller: MakeCaller
) -> None:
    organization, owner = owned
    admin = await make_caller()
    await api.add_member(organization["id"], owner, admin, "admin")
    as_admin = await api.client.post(
        invitations_url(organization), json={"email": "o@example.org", "role": "owner"}, headers=admin.headers
    )
    assert as_admin.status_code == 403
    as_owner = await api.client.post(
        invitations_url(organization), json={"email": "o@example.org", "role": "owner"}, headers=owner.headers
    )
    assert as_owner.status_code == 201


async def test_accepting_joins_with_the_invited_role_by_the_invited_email_only(
    api: OrganizationsApi, owned: tuple[dict[str, Any], Caller], make_caller: MakeCaller
) -> None:
    organization, owner = owned
    invitee, someone_else = await make_caller(), await make_caller()
    # The email is compared case-insensitively.
    token = (await api.invite(organization["id"], owner, invitee.email.upper(), "admin"))["token"]

    wrong = await api.client.post(
        f"{API}/invitations/accept", json={"token": token}, headers=someone_else.headers
    )
    assert wrong.status_code == 404

    right = await api.client.post(f"{API}/invitations/accept", json={"token": token}, headers=invitee.headers)
    assert right.status_code == 200
    assert right.json()["id"] == organization["id"]
    assert right.json()["role"] == "admin"

    spent = await api.client.post(f"{API}/invitations/accept", json={"token": token}, headers=invitee.headers)
    assert spent.status_code == 404
    listed = (await api.client.get(invitations_url(organization), headers=owner.headers)).json()["items"]
    assert listed == []


async def test_revoked_expired_and_unknown_tokens_are_404(
    api: OrganizationsApi,
    owned: tuple[dict[str, Any], Caller],
    make_caller: MakeCaller,
    db_session: AsyncSession,
) -> None:
    organization, owner = owned
    invitee = await make_caller()
    revoked = await api.invite(organization["id"], owner, invitee.email)
    url = f"{invitations_url(organization)}/{revoked['id']}"
    assert (await api.client.delete(url, headers=owner.headers)).status_code == 204
    assert (await api.client.delete(url, headers=owner.headers)).status_code == 204  # again: nothing to do

    expired = await api.invite(organization["id"], owner, invitee.email)
    await db_session.execute(
        update(Invitation)
        .where(Invitation.id == expired["id"])
        .values(expires_at=datetime.fromisoformat(expired["expires_at"]) - timedelta(days=8))
    )

    for token in (revoked["token"], expired["token"], "not-a-token"):
        answer = await api.client.post(
            f"{API}/invitations/accept", json={"token": token}, headers=invitee.headers
        )
        assert answer.status_code == 404
    assert (
        await api.client.get(f"{API}/organizations/{organization['id']}", headers=invitee.headers)
    ).status_code == 404


async def test_revoking_an_accepted_invitation_is_409_and_an_unknown_one_404(
    api: OrganizationsApi, owned: tuple[dict[str, Any], Caller], make_caller: MakeCaller
) -> None:
    organization, owner = owned
    invitee = await make_caller()
    invitation = await api.invite(organization["id"], owner, invitee.email)
    await api.client.post(
        f"{API}/invitations/accept", json={"token": invitation["token"]}, headers=invitee.headers
    )
    accepted = await api.client.delete(
        f"{invitations_url(organization)}/{invitation['id']}", headers=owner.headers
    )
    assert accepted.status_code == 409
    unknown = await api.client.delete(
        f"{invitations_url(organization)}/00000000-0000-4000-8000-000000000000", headers=owner.headers
    )
    assert unknown.status_code == 404


async def test_accepting_when_already_a_member_keeps_the_role(
    api: OrganizationsApi, owned: tuple[dict[str, Any], Caller]
) -> None:
    organization, owner = owned
    token = (await api.invite(organization["id"], owner, owner.email, "member"))["token"]
    answer = await api.client.post(f"{API}/invitations/accept", json={"token": token}, headers=owner.headers)
    assert answer.status_code == 200
    assert answer.json()["role"] == "owner"


async def test_a_member_neither_invites_nor_lists_invitations(
    api: OrganizationsApi, owned: tuple[dict[str, Any], Caller], make_caller: MakeCaller
) -> None:
    organization, owner = owned
    member = await make_caller()
    await api.add_member(organization["id"], owner, member)
    invite = await api.client.post(
        invitations_url(organization), json={"email": "x@example.org"}, headers=member.headers
    )
    assert invite.status_code == 403
    assert (await api.client.get(invitations_url(organization), headers=member.headers)).status_code == 403


async def test_an_archived_organisation_takes_no_invitation_and_honours_none(
    api: OrganizationsApi, owned: tuple[dict[str, Any], Caller], make_caller: MakeCaller
) -> None:
    organization, owner = owned
    invitee = await make_caller()
    pending = await api.invite(organization["id"], owner, invitee.email)
    assert (
        await api.client.delete(f"{API}/organizations/{organization['id']}", headers=owner.headers)
    ).status_code == 204
    refused = await api.client.post(
        invitations_url(organization), json={"email": "x@example.org"}, headers=owner.headers
    )
    assert refused.status_code == 409
    accept = await api.client.post(
        f"{API}/invitations/accept", json={"token": pending["token"]}, headers=invitee.headers
    )
    assert accept.status_code == 404


async def test_a_look_alike_account_cannot_take_another_addresses_invitation(
    api: OrganizationsApi, owned: tuple[dict[str, Any], Caller], make_caller: MakeCaller
) -> None:
    # "b\u0130ll" is "bill" to PostgreSQL's lower(), not to the canonical
    # form (docs/contract.md §9): the look-alike account is someone else.
    organization, owner = owned
    local = f"bill-{uuid.uuid4().hex[:8]}"
    invited = await make_caller(email=f"{local}@example.org")
    look_alike = await make_caller(email=local.replace("i", "\u0130") + "@example.org")
    token = (await api.invite(organization["id"], owner, invited.email))["token"]

    taken = await api.client.post(
        f"{API}/invitations/accept", json={"token": token}, headers=look_alike.headers
    )
    kept = await api.client.post(f"{API}/invitations/accept", json={"token": token}, headers=invited.headers)

    assert taken.status_code == 404
    assert kept.status_code == 200


async def test_an_archived_organisation_keeps_its_pending_invitations_as_they_are(
    api: OrganizationsApi, owned: tuple[dict[str, Any], Caller]
) -> None:
    organization, owner = owned
    pending = await api.invite(organization["id"], owner, "someone@example.org")
    assert (
        await api.client.delete(f"{API}/organizations/{organization['id']}", headers=owner.headers)
    ).status_code == 204

    revoke = await api.client.delete(
        f"{invitations_url(organization)}/{pending['id']}", headers=owner.headers
    )

    assert revoke.status_code == 409
    assert revoke.json()["detail"] == "An archived organization cannot be changed"
