"""Members and roles: who may change whom, leaving, and the last owner (docs/contract.md §10)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from erp_api_testing.organizations import API, Caller, OrganizationsApi

MakeCaller = Callable[..., Awaitable[Caller]]


async def make_team(api: OrganizationsApi, make_caller: MakeCaller) -> dict[str, Any]:
    """An organisation with an owner, an admin and a member, who joined in that order."""
    owner, admin, member = (
        await make_caller(full_name="Olive Owner"),
        await make_caller(),
        await make_caller(),
    )
    organization = await api.create_organization(owner)
    await api.add_member(organization["id"], owner, admin, "admin")
    await api.add_member(organization["id"], owner, member, "member")
    return {"org": organization, "owner": owner, "admin": admin, "member": member}


@pytest.fixture
async def team(api: OrganizationsApi, make_caller: MakeCaller) -> dict[str, Any]:
    return await make_team(api, make_caller)


def members_url(team: dict[str, Any], who: Caller | uuid.UUID | None = None) -> str:
    url = f"{API}/organizations/{team['org']['id']}/members"
    if who is not None:
        url += f"/{who.id if isinstance(who, Caller) else who}"
    return url


async def test_members_are_listed_in_the_order_they_joined(
    committing_api: OrganizationsApi, make_committed_caller: MakeCaller
) -> None:
    # Committed, request by request: an order in time needs transactions of their own.
    api = committing_api
    team = await make_team(api, make_committed_caller)
    response = await api.client.get(members_url(team), headers=team["member"].headers)
    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["user_id"] for item in items] == [str(team[who].id) for who in ("owner", "admin", "member")]
    assert [item["role"] for item in items] == ["owner", "admin", "member"]
    assert items[0]["email"] == team["owner"].email
    assert items[0]["full_name"] == "Olive Owner"
    assert set(items[0]) == {"user_id", "email", "full_name", "role", "created_at"}

    first = (
        await api.client.get(members_url(team), params={"limit": 2}, headers=team["member"].headers)
    ).json()
    rest = await api.client.get(
        members_url(team), params={"limit": 2, "cursor": first["next_cursor"]}, headers=team["member"].headers
    )
    assert [item["user_id"] for item in first["items"] + rest.json()["items"]] == [
        item["user_id"] for item in items
    ]
    assert rest.json()["next_cursor"] is None


async def test_an_admin_changes_a_members_role(api: OrganizationsApi, team: dict[str, Any]) -> None:
    response = await api.client.patch(
        members_url(team, team["member"]), json={"role": "admin"}, headers=team["admin"].headers
    )
    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    assert response.json()["user_id"] == str(team["member"].id)


async def test_a_member_changes_no_role(api: OrganizationsApi, team: dict[str, Any]) -> None:
    response = await api.client.patch(
        members_url(team, team["admin"]), json={"role": "member"}, headers=team["member"].headers
    )
    assert response.status_code == 403


async def test_owners_are_made_and_changed_by_owners_only(
    api: OrganizationsApi, team: dict[str, Any]
) -> None:
    promote = await api.client.patch(
        members_url(team, team["member"]), json={"role": "owner"}, headers=team["admin"].headers
    )
    assert promote.status_code == 403
    demote = await api.client.patch(
        members_url(team, team["owner"]), json={"role": "member"}, headers=team["admin"].headers
    )
    assert demote.status_code == 403
    remove = await api.client.delete(members_url(team, team["owner"]), headers=team["admin"].headers)
    assert remove.status_code == 403
    by_owner = await api.client.patch(
        members_url(team, team["admin"]), json={"role": "owner"}, headers=team["owner"].headers
    )
    assert by_owner.status_code == 200


async def test_the_last_owner_can_be_neither_demoted_nor_removed(
    api: OrganizationsApi, team: dict[str, Any]
) -> None:
    owner = team["owner"]
    demote = await api.client.patch(members_url(team, owner), json={"role": "admin"}, headers=owner.headers)
    assert demote.status_code == 409
    leave = await api.client.delete(members_url(team, owner), headers=owner.headers)
    assert leave.status_code == 409

    await api.client.patch(members_url(team, team["admin"]), json={"role": "owner"}, headers=owner.headers)
    assert (await api.client.delete(members_url(team, owner), headers=owner.headers)).status_code == 204


async def test_a_member_may_leave_but_not_remove_others(api: OrganizationsApi, team: dict[str, Any]) -> None:
    member = team["member"]
    assert (
        await api.client.delete(members_url(team, team["admin"]), headers=member.headers)
    ).status_code == 403
    assert (await api.client.delete(members_url(team, member), headers=member.headers)).status_code == 204
    gone = await api.client.get(f"{API}/organizations/{team['org']['id']}", headers=member.headers)
    assert gone.status_code == 404


async def test_an_admin_removes_a_member(api: OrganizationsApi, team: dict[str, Any]) -> None:
    response = await api.client.delete(members_url(team, team["member"]), headers=team["admin"].headers)
    assert response.status_code == 204
    listed = (await api.client.get(members_url(team), headers=team["admin"].headers)).json()["items"]
    assert str(team["member"].id) not in [item["user_id"] for item in listed]


async def test_an_id_that_is_no_member_here_is_404(
    api: OrganizationsApi, team: dict[str, Any], make_caller: MakeCaller
) -> None:
    stranger = await make_caller()
    for who in (stranger.id, uuid.uuid4()):
        patch = await api.client.patch(
            members_url(team, who), json={"role": "admin"}, headers=team["owner"].headers
        )
        assert patch.status_code == 404
        delete = await api.client.delete(members_url(team, who), headers=team["owner"].headers)
        assert delete.status_code == 404


async def test_an_archived_organisation_changes_no_role_and_removes_no_one(
    api: OrganizationsApi, team: dict[str, Any]
) -> None:
    # Archived means read-only (docs/contract.md §10): memberships included.
    owner, member = team["owner"], team["member"]
    assert (
        await api.client.delete(f"{API}/organizations/{team['org']['id']}", headers=owner.headers)
    ).status_code == 204

    promote = await api.client.patch(members_url(team, member), json={"role": "admin"}, headers=owner.headers)
    remove = await api.client.delete(members_url(team, member), headers=owner.headers)
    leave = await api.client.delete(members_url(team, member), headers=member.headers)
    listed = await api.client.get(members_url(team), headers=member.headers)

    assert [promote.status_code, remove.status_code, leave.status_code] == [409, 409, 409]
    assert promote.json()["detail"] == "An archived organization cannot be changed"
    roles = {item["user_id"]: item["role"] for item in listed.json()["items"]}
    assert roles[str(member.id)] == "member"
