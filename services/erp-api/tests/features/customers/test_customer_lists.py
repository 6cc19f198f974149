"""The customer list: keyset pages by (created_at, id), archived ones on request, a name prefix by index."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api_testing.organizations import Team


async def names(client: httpx.AsyncClient, team: Team, **params: str) -> list[str]:
    response = await client.get(team.url("/customers"), params=params, headers=team.member.headers)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def test_pages_follow_created_at_then_id_without_repeats(
    committing_client: httpx.AsyncClient, committed_team: Team
) -> None:
    # Committed: inside one transaction now() stands still, and the order is in time.
    team = committed_team
    made = []
    for number in range(7):
        response = await committing_client.post(
            team.url("/customers"), json={"name": f"Customer {number}"}, headers=team.member.headers
        )
        made.append(response.json()["name"])

    seen, cursor = [], None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (
            await committing_client.get(team.url("/customers"), params=params, headers=team.member.headers)
        ).json()
        seen += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == made


async def test_archived_customers_are_listed_only_on_request(client: httpx.AsyncClient, team: Team) -> None:
    kept = (
        await client.post(team.url("/customers"), json={"name": "Kept"}, headers=team.member.headers)
    ).json()
    gone = (
        await client.post(team.url("/customers"), json={"name": "Gone"}, headers=team.member.headers)
    ).json()
    await client.delete(team.url(f"/customers/{gone['id']}"), headers=team.admin.headers)

    assert await names(client, team) == [kept["name"]]
    assert sorted(await names(client, team, include_archived="true")) == ["Gone", "Kept"]


async def test_q_is_a_case_insensitive_prefix_of_the_name(client: httpx.AsyncClient, team: Team) -> None:
    for name in ("Acme GmbH", "ACME Holding", "Acmé Sàrl", "Bacme", "Ac%me", "Ac_me"):
        await client.post(team.url("/customers"), json={"name": name}, headers=team.member.headers)

    assert sorted(await names(client, team, q="acme")) == ["ACME Holding", "Acme GmbH"]
    assert await names(client, team, q="ACMÉ") == ["Acmé Sàrl"]
    # LIKE's wildcards are plain characters in q.
    assert await names(client, team, q="Ac%") == ["Ac%me"]
    assert await names(client, team, q="ac_") == ["Ac_me"]
    assert await names(client, team, q="cme") == []


async def test_a_nul_or_an_empty_q_is_422(client: httpx.AsyncClient, team: Team) -> None:
    for q in ("a\u0000b", ""):
        response = await client.get(team.url("/customers"), params={"q": q}, headers=team.member.headers)
        assert response.status_code == 422


async def test_the_prefix_search_is_served_by_an_index(db_session: AsyncSession) -> None:
    # The route's predicate, planned with sequential scans priced out: the
    # name index must serve the prefix as a range (text_pattern_ops' ~>=~ / ~<~),
    # whatever the database's collation.
    await db_session.execute(text("SET LOCAL enable_seqscan = off"))
    # The list's own index would serve organization_id alone: out of the way for
    # this transaction (rolled back with the test), the name index must be chosen.
    await db_session.execute(text("DROP INDEX ix_customers_organization_id_created_at_id"))
    plan = "\n".join(
        (
            await db_session.execute(
                text(
                    "EXPLAIN SELECT id FROM customers "
                    "WHERE organization_id = '00000000-0000-4000-8000-000000000000' "
                    "AND lower(name) LIKE lower('ACM') || '%' ESCAPE '\\'"
                )
            )
        )
        .scalars()
        .all()
    )
    assert "ix_customers_organization_id_lower_name" in plan, plan
    assert "~>=~" in plan, plan
