"""Statements per customer request, counted (docs/contract.md §13): a read 2, a list 2, a change 4 at most.

A create is 1: the INSERT that checks the caller's claim and writes its audit event too.
"""

from __future__ import annotations

import httpx

from erp_api_testing.organizations import Team
from erp_api_testing.statements import count_statements


async def test_a_read_a_list_and_each_change_stay_within_their_budget(
    client: httpx.AsyncClient, team: Team
) -> None:
    headers = team.member.headers
    for number in range(60):  # more than a page: the budget holds at any page size
        await client.post(team.url("/customers"), json={"name": f"C{number}"}, headers=headers)

    with count_statements() as created_statements:
        created = await client.post(team.url("/customers"), json={"name": "Counted"}, headers=headers)
    url = team.url(f"/customers/{created.json()['id']}")
    with count_statements() as read_statements:
        assert (await client.get(url, headers=headers)).status_code == 200
    with count_statements() as list_statements:
        page = await client.get(team.url("/customers"), params={"limit": "100"}, headers=headers)
    with count_statements() as patch_statements:
        patched = await client.patch(url, json={"name": "Recounted"}, headers={**headers, "If-Match": '"1"'})
    with count_statements() as archive_statements:
        assert (await client.delete(url, headers=team.admin.headers)).status_code == 204

    assert created.status_code == 201
    assert len(page.json()["items"]) == 61
    assert patched.status_code == 200
    assert len(read_statements) <= 2, read_statements
    assert len(list_statements) <= 2, list_statements
    assert len(created_statements) == 1, created_statements
    assert "INSERT INTO customers" in created_statements[0]
    assert "INSERT INTO audit_events" in created_statements[0]
    assert "FROM memberships" in created_statements[0]
    for change in (created_statements, patch_statements, archive_statements):
        assert len(change) <= 4, change
