"""Query budgets, counted in SQL statements (deterministic, unlike timings).

Authentication (``CurrentUser``) costs one statement: the user by primary
key. The access dependency costs one more: membership and organisation
together. A list costs one more whatever the page size (no N+1), and a
change at most two more: the guarded write and its audit events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from erp_api_testing.organizations import API, Caller, OrganizationsApi
from erp_api_testing.statements import Statements, count_statements

MakeCaller = Callable[..., Awaitable[Caller]]
READ_BUDGET = 2
WRITE_BUDGET = 4


async def counted(request: Awaitable[httpx.Response], expected_status: int) -> Statements:
    with count_statements() as statements:
        response = await request
    assert response.status_code == expected_status, response.text
    return statements


async def test_reading_an_organisation_costs_two_statements(
    api: OrganizationsApi, make_caller: MakeCaller
) -> None:
    owner = await make_caller()
    organization = await api.create_organization(owner)
    statements = await counted(
        api.client.get(f"{API}/organizations/{organization['id']}", headers=owner.headers), 200
    )
    assert len(statements) <= READ_BUDGET, statements


async def test_listing_costs_two_statements_whatever_the_page_size(
    api: OrganizationsApi, make_caller: MakeCaller
) -> None:
    owner = await make_caller()
    for size in (1, 30):
        while (
            len(
                (await api.client.get(f"{API}/organizations?limit=100", headers=owner.headers)).json()[
                    "items"
                ]
            )
            < size
        ):
            await api.create_organization(owner)
        statements = await counted(
            api.client.get(f"{API}/organizations?limit=100", headers=owner.headers), 200
        )
        assert len(statements) <= READ_BUDGET, statements


async def test_the_other_lists_cost_one_statement_more_than_the_access_check(
    api: OrganizationsApi, make_caller: MakeCaller
) -> None:
    owner = await make_caller()
    organization = await api.create_organization(owner)
    for _ in range(5):
        await api.add_member(organization["id"], owner, await make_caller())
    base = f"{API}/organizations/{organization['id']}"
    for path in ("members", "invitations", "audit-events"):
        statements = await counted(api.client.get(f"{base}/{path}", headers=owner.headers), 200)
        assert len(statements) <= READ_BUDGET + 1, statements


async def test_every_change_costs_at_most_four_statements(
    api: OrganizationsApi, make_caller: MakeCaller
) -> None:
    owner, invitee = await make_caller(), await make_caller()
    client = api.client
    with count_statements() as statements:
        created = await client.post(
            f"{API}/organizations",
            json={"name": "Acme", "slug": f"q-{invitee.id.hex[:12]}"},
            headers=owner.headers,
        )
    assert created.status_code == 201
    assert len(statements) <= WRITE_BUDGET, statements
    base = f"{API}/organizations/{created.json()['id']}"

    changes: list[tuple[str, Callable[[], Awaitable[httpx.Response]], int]] = [
        (
            "patch",
            lambda: client.patch(base, json={"name": "B"}, headers={**owner.headers, "If-Match": '"1"'}),
            200,
        ),
        (
            "invite",
            lambda: client.post(f"{base}/invitations", json={"email": invitee.email}, headers=owner.headers),
            201,
        ),
    ]
    for name, request, status in changes:
        statements = await counted(request(), status)
        # An invitation also records its mail job in the outbox (docs/contract.md §14).
        budget = WRITE_BUDGET + 1 if name == "invite" else WRITE_BUDGET
        assert len(statements) <= budget, f"{name}:\n{statements}"

    token = (await api.invite(created.json()["id"], owner, invitee.email))["token"]
    statements = await counted(
        client.post(f"{API}/invitations/accept", json={"token": token}, headers=invitee.headers), 200
    )
    assert len(statements) <= WRITE_BUDGET, statements
    pending = (await client.get(f"{base}/invitations", headers=owner.headers)).json()["items"][0]["id"]
    later: list[tuple[str, Callable[[], Awaitable[httpx.Response]], int]] = [
        ("revoke", lambda: client.delete(f"{base}/invitations/{pending}", headers=owner.headers), 204),
        (
            "role",
            lambda: client.patch(
                f"{base}/members/{invitee.id}", json={"role": "admin"}, headers=owner.headers
            ),
            200,
        ),
        ("remove", lambda: client.delete(f"{base}/members/{invitee.id}", headers=owner.headers), 204),
        ("archive", lambda: client.delete(base, headers=owner.headers), 204),
    ]
    for name, request, status in later:
        statements = await counted(request(), status)
        assert len(statements) <= WRITE_BUDGET, f"{name}:\n{statements}"
