"""Concurrent changes, for real: two requests in flight at once on two connections (docs/contract.md §10).

To make the race certain rather than lucky, the test holds the organisation
row locked from a connection of its own while both requests start: both read
the same version, both reach their UPDATE and wait there; then the lock goes
and PostgreSQL lets them through one after the other. The requests go
through ``committing_api``: each on a pooled connection of its own, as deployed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from erp_api_testing.organizations import API, Caller, OrganizationsApi

MakeCaller = Callable[..., Awaitable[Caller]]

_WAITING = text(
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
)


async def wait_for_lock_waiters(engine: AsyncEngine, count: int) -> None:
    # Autocommit: inside one transaction PostgreSQL keeps serving the first
    # snapshot of pg_stat_activity, so a poll that started too early would
    # never see the second waiter.
    async with engine.connect() as connection, asyncio.timeout(30):
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        while (await connection.scalar(_WAITING) or 0) < count:
            await asyncio.sleep(0.02)


async def race(
    engine: AsyncEngine, organization_id: str, *requests: Awaitable[httpx.Response]
) -> list[httpx.Response]:
    """Start ``requests`` while the organisation row is locked; release it once all of them wait."""
    async with engine.connect() as holder:
        transaction = await holder.begin()
        await lock(holder, organization_id)
        tasks = [asyncio.ensure_future(request) for request in requests]
        await wait_for_lock_waiters(engine, len(tasks))
        await transaction.rollback()
    return list(await asyncio.gather(*tasks))


async def lock(connection: AsyncConnection, organization_id: str) -> None:
    await connection.execute(
        text("SELECT 1 FROM organizations WHERE id = :id FOR UPDATE"), {"id": organization_id}
    )


async def test_two_patches_with_one_tag_give_one_200_and_one_412(
    committing_api: OrganizationsApi, make_committed_caller: MakeCaller, erp_db_engine: AsyncEngine
) -> None:
    api = committing_api
    owner = await make_committed_caller()
    organization = await api.create_organization(owner)
    url = f"{API}/organizations/{organization['id']}"
    headers = {**owner.headers, "If-Match": '"1"'}

    answers = await race(
        erp_db_engine,
        organization["id"],
        api.client.patch(url, json={"name": "First"}, headers=headers),
        api.client.patch(url, json={"name": "Second"}, headers=headers),
    )

    assert sorted(answer.status_code for answer in answers) == [200, 412]
    winner = next(answer for answer in answers if answer.status_code == 200)
    read = (await api.client.get(url, headers=owner.headers)).json()
    assert read["version"] == 2
    assert read["name"] == winner.json()["name"]
    events = await api.client.get(f"{url}/audit-events", headers=owner.headers)
    assert [event["action"] for event in events.json()["items"]].count("organization.updated") == 1


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    committing_api: OrganizationsApi, make_committed_caller: MakeCaller, erp_db_engine: AsyncEngine
) -> None:
    api = committing_api
    first, second = await make_committed_caller(), await make_committed_caller()
    organization = await api.create_organization(first)
    await api.add_member(organization["id"], first, second, "owner")
    members = f"{API}/organizations/{organization['id']}/members"

    answers = await race(
        erp_db_engine,
        organization["id"],
        api.client.patch(f"{members}/{second.id}", json={"role": "admin"}, headers=first.headers),
        api.client.patch(f"{members}/{first.id}", json={"role": "admin"}, headers=second.headers),
    )

    # The second runs once the first has committed: by then it is an admin, who may not demote an owner.
    assert sorted(answer.status_code for answer in answers) == [200, 403]
    roles: list[dict[str, Any]] = (await api.client.get(members, headers=first.headers)).json()["items"]
    assert sorted(member["role"] for member in roles) == ["admin", "owner"]
