"""Customers: the routes of docs/contract.md §13, on the transactional client."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api_testing.organizations import API, OrganizationsApi, Team
from erp_db import AuditEvent, Customer, User

from .conftest import create_customer


async def create(client: httpx.AsyncClient, team: Team, role: str = "member", **body: Any) -> httpx.Response:
    return await client.post(
        team.url("/customers"), json={"name": "Acme GmbH", **body}, headers=team.caller(role).headers
    )


async def test_a_member_creates_a_customer_with_location_and_etag(
    client: httpx.AsyncClient, team: Team
) -> None:
    response = await create(client, team, email="Buyer@Acme.example", vat_number="DE123456789")

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Acme GmbH"
    assert body["vat_number"] == "DE123456789"
    assert body["organization_id"] == team.id
    assert body["version"] == 1
    assert body["archived_at"] is None
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == team.url(f"/customers/{body['id']}")
    read = await client.get(response.headers["Location"], headers=team.member.headers)
    assert read.status_code == 200
    assert read.json() == body


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": " Acme"},
        {"name": "Acme\n"},
        {"name": "x" * 201},
        {"name": "a\u0000b"},
        {"name": "Acme", "vat_number": "de123"},
        {"name": "Acme", "vat_number": "D1"},
        {"name": "Acme", "vat_number": "DE12345678901234"},
        {"name": "Acme", "email": "not-an-email"},
        {"name": "Acme", "id": "00000000-0000-0000-0000-000000000000"},
        {},
    ],
)
async def test_invalid_customers_are_422(client: httpx.AsyncClient, team: Team, body: dict[str, Any]) -> None:
    response = await client.post(team.url("/customers"), json=body, headers=team.member.headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_if_none_match_with_the_etag_is_304(client: httpx.AsyncClient, team: Team) -> None:
    created = (await create(client, team)).json()
    url = team.url(f"/customers/{created['id']}")

    unchanged = await client.get(url, headers={**team.member.headers, "If-None-Match": '"1"'})
    changed = await client.get(url, headers={**team.member.headers, "If-None-Match": '"7"'})

    assert unchanged.status_code == 304
    assert unchanged.headers["ETag"] == '"1"'
    assert changed.status_code == 200


async def test_patch_is_a_merge_patch_under_if_match(client: httpx.AsyncClient, team: Team) -> None:
    created = (await create(client, team, email="a@acme.example", vat_number="FR12345678901")).json()
    url = team.url(f"/customers/{created['id']}")
    patch = {"name": "Acme SE", "email": None}
    merge = {"Content-Type": "application/merge-patch+json"}

    missing = await client.patch(url, json=patch, headers=team.member.headers)
    stale = await client.patch(url, json=patch, headers={**team.member.headers, "If-Match": '"9"'})
    changed = await client.patch(url, json=patch, headers={**team.member.headers, **merge, "If-Match": '"1"'})

    assert missing.status_code == 428
    assert stale.status_code == 412
    assert changed.status_code == 200
    assert changed.headers["ETag"] == '"2"'
    body = changed.json()
    assert (body["name"], body["email"], body["vat_number"], body["version"]) == (
        "Acme SE",
        None,
        "FR12345678901",
        2,
    )
    removed_name = await client.patch(
        url, json={"name": None}, headers={**team.member.headers, "If-Match": '"2"'}
    )
    assert removed_name.status_code == 422


async def test_a_patch_that_changes_nothing_keeps_the_version(client: httpx.AsyncClient, team: Team) -> None:
    created = (await create(client, team)).json()
    url = team.url(f"/customers/{created['id']}")

    same = await client.patch(
        url, json={"name": "Acme GmbH"}, headers={**team.member.headers, "If-Match": '"1"'}
    )

    assert same.status_code == 200
    assert same.json()["version"] == 1
    assert same.headers["ETag"] == '"1"'


async def test_only_an_admin_archives_and_archiving_again_is_204(
    client: httpx.AsyncClient, team: Team
) -> None:
    created = (await create(client, team)).json()
    url = team.url(f"/customers/{created['id']}")

    by_member = await client.delete(url, headers=team.member.headers)
    first = await client.delete(url, headers=team.admin.headers)
    again = await client.delete(url, headers=team.admin.headers)
    read = await client.get(url, headers=team.member.headers)
    patched = await client.patch(url, json={"name": "New"}, headers={**team.member.headers, "If-Match": "*"})

    assert [by_member.status_code, first.status_code, again.status_code] == [403, 204, 204]
    assert read.status_code == 200
    assert read.json()["archived_at"] is not None
    assert read.json()["version"] == 2
    assert patched.status_code == 409


async def test_a_live_vat_number_is_unique_per_organisation(
    client: httpx.AsyncClient, team: Team, api: OrganizationsApi
) -> None:
    first = (await create(client, team, vat_number="NL123456789B01")).json()

    taken = await create(client, team, name="Other", vat_number="NL123456789B01")
    other_team_owner = team.outsider
    elsewhere = await api.create_organization(other_team_owner)
    elsewhere_ok = await client.post(
        f"{API}/organizations/{elsewhere['id']}/customers",
        json={"name": "Acme", "vat_number": "NL123456789B01"},
        headers=other_team_owner.headers,
    )

    assert taken.status_code == 409
    assert taken.json()["errors"][0]["loc"] == ["body", "vat_number"]
    assert "NL123456789B01" not in taken.text
    assert elsewhere_ok.status_code == 201
    # An archived customer frees its number.
    assert (
        await client.delete(team.url(f"/customers/{first['id']}"), headers=team.admin.headers)
    ).status_code == 204
    assert (await create(client, team, name="Successor", vat_number="NL123456789B01")).status_code == 201


async def test_a_patch_to_a_taken_vat_number_is_409_on_the_field(
    client: httpx.AsyncClient, team: Team
) -> None:
    await create(client, team, vat_number="BE0123456789")
    other = (await create(client, team, name="Other")).json()

    response = await client.patch(
        team.url(f"/customers/{other['id']}"),
        json={"vat_number": "BE0123456789"},
        headers={**team.member.headers, "If-Match": '"1"'},
    )

    assert response.status_code == 409
    assert response.json()["errors"][0]["loc"] == ["body", "vat_number"]


async def test_a_customer_of_another_organisation_is_404_like_an_unknown_id(
    client: httpx.AsyncClient, team: Team, api: OrganizationsApi
) -> None:
    # The outsider owns an organisation of their own, with a customer in it.
    theirs = await api.create_organization(team.outsider)
    foreign = await create_customer(client, team.outsider, theirs["id"])
    unknown = "00000000-0000-4000-8000-000000000000"

    answers = {}
    for name, customer_id in (("foreign", foreign["id"]), ("unknown", unknown)):
        url = team.url(f"/customers/{customer_id}")
        answers[name] = [
            await client.get(url, headers=team.owner.headers),
            await client.patch(url, json={"name": "Mine"}, headers={**team.owner.headers, "If-Match": "*"}),
            await client.delete(url, headers=team.owner.headers),
        ]

    for foreign_answer, unknown_answer in zip(answers["foreign"], answers["unknown"], strict=True):
        assert foreign_answer.status_code == unknown_answer.status_code == 404
        assert foreign_answer.json()["detail"] == unknown_answer.json()["detail"]
    still = await client.get(
        f"{API}/organizations/{theirs['id']}/customers/{foreign['id']}", headers=team.outsider.headers
    )
    assert still.json()["name"] == foreign["name"]
    assert still.json()["version"] == 1


async def test_an_outsider_gets_404_for_every_customer_route(client: httpx.AsyncClient, team: Team) -> None:
    created = (await create(client, team)).json()
    headers = team.outsider.headers
    url = team.url(f"/customers/{created['id']}")
    answers = [
        await client.get(team.url("/customers"), headers=headers),
        await client.post(team.url("/customers"), json={"name": "X"}, headers=headers),
        await client.get(url, headers=headers),
        await client.patch(url, json={"name": "X"}, headers={**headers, "If-Match": "*"}),
        await client.delete(url, headers=headers),
    ]
    assert [answer.status_code for answer in answers] == [404] * 5
    assert {answer.json()["detail"] for answer in answers} == {"Organization not found"}


async def test_an_archived_organisation_takes_no_customer_changes(
    client: httpx.AsyncClient, team: Team
) -> None:
    created = (await create(client, team)).json()
    assert (await client.delete(team.url(), headers=team.owner.headers)).status_code == 204
    url = team.url(f"/customers/{created['id']}")

    new = await create(client, team)
    patched = await client.patch(url, json={"name": "X"}, headers={**team.member.headers, "If-Match": "*"})
    archived = await client.delete(url, headers=team.admin.headers)
    read = await client.get(url, headers=team.member.headers)

    assert [new.status_code, patched.status_code, archived.status_code, read.status_code] == [
        409,
        409,
        409,
        200,
    ]


async def test_every_change_writes_its_audit_event_without_secrets(
    client: httpx.AsyncClient, team: Team, db_session: AsyncSession
) -> None:
    created = (await create(client, team, vat_number="AT123456789")).json()
    url = team.url(f"/customers/{created['id']}")
    await client.patch(url, json={"name": "Renamed"}, headers={**team.member.headers, "If-Match": '"1"'})
    await client.delete(url, headers=team.admin.headers)

    events = (
        await db_session.scalars(
            select(AuditEvent)
            .where(AuditEvent.target_id == uuid.UUID(created["id"]))
            .order_by(AuditEvent.action)
        )
    ).all()
    by_action = {event.action: event for event in events}
    assert sorted(by_action) == ["customer.archived", "customer.created", "customer.updated"]
    assert by_action["customer.created"].changes["vat_number"] == [None, "AT123456789"]
    assert by_action["customer.created"].actor_user_id == team.member.id
    assert by_action["customer.updated"].changes == {"name": ["Acme GmbH", "Renamed"]}
    assert by_action["customer.archived"].actor_user_id == team.admin.id
    assert all(str(event.organization_id) == team.id for event in events)


async def test_a_refused_create_writes_neither_the_customer_nor_its_event(
    client: httpx.AsyncClient, team: Team, db_session: AsyncSession
) -> None:
    # The claim is checked by the INSERT itself: a refused one must have written nothing.
    outsider = await create(client, team, role="outsider", name="Outsider's")
    await db_session.execute(update(User).where(User.id == team.member.id).values(is_active=False))
    deactivated = await create(client, team, name="Deactivated's")
    assert (await client.delete(team.url(), headers=team.owner.headers)).status_code == 204
    archived = await create(client, team, role="admin", name="Archived's")

    assert [outsider.status_code, deactivated.status_code, archived.status_code] == [404, 401, 409]
    assert archived.json()["detail"] == "An archived organization cannot be changed"
    ours = uuid.UUID(team.id)
    names = (await db_session.scalars(select(Customer.name).where(Customer.organization_id == ours))).all()
    actions = (
        await db_session.scalars(select(AuditEvent.action).where(AuditEvent.organization_id == ours))
    ).all()
    assert names == []
    assert "customer.created" not in actions


async def test_an_invalid_body_is_refused_as_the_claim_would_be(
    client: httpx.AsyncClient, team: Team, db_session: AsyncSession
) -> None:
    # FastAPI validates the body after the claim's dependency, before the INSERT that checks it:
    # the refusal comes first, so an outsider learns nothing from a 422.
    outsider = await create(client, team, role="outsider", name="")
    member = await create(client, team, name="")
    await db_session.execute(update(User).where(User.id == team.member.id).values(is_active=False))
    deactivated = await create(client, team, name="")
    assert (await client.delete(team.url(), headers=team.owner.headers)).status_code == 204
    archived = await create(client, team, role="admin", name="")

    assert [outsider.status_code, member.status_code] == [404, 422]
    assert [deactivated.status_code, archived.status_code] == [401, 409]
