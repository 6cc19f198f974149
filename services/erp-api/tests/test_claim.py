"""The claim of a create route fails closed (erp_api.tenancy.organization_claim).

A route that declares the claim and ends without its guarded INSERT, or
writes into another organisation than the claim's, or fails after the
INSERT, commits nothing; an outsider is refused as by any route under the
organisation.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api import create_app
from erp_api.dependencies import SessionDep
from erp_api.settings import ApiSettings
from erp_api.tenancy import Claim, Role, organization_claim
from erp_api.versioned import insert_row
from erp_api_testing.organizations import Team
from erp_db import Customer

CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
Creating = Annotated[Claim, Depends(organization_claim(Role.MEMBER))]


def _routes() -> APIRouter:
    router = APIRouter(prefix="/organizations/{organization_id}/claim-probes")

    @router.post("/unsettled", status_code=201)
    async def unsettled(claim: Creating, session: SessionDep) -> dict[str, str]:
        # Forgets claim=: the row would be written for anyone with a token.
        values = {"organization_id": claim.organization_id, "name": "unsettled", "version": 1}
        await insert_row(session, CUSTOMERS, values)
        return {"status": "created"}

    @router.post("/elsewhere", status_code=201)
    async def elsewhere(claim: Creating, session: SessionDep) -> dict[str, str]:
        values = {"organization_id": uuid.uuid4(), "name": "elsewhere", "version": 1}
        await insert_row(session, CUSTOMERS, values, claim=claim)
        return {"status": "created"}

    @router.post("/fails-after", status_code=201)
    async def fails_after(claim: Creating, session: SessionDep) -> dict[str, str]:
        values = {"organization_id": claim.organization_id, "name": "fails-after", "version": 1}
        await insert_row(session, CUSTOMERS, values, claim=claim)
        raise RuntimeError("the route failed after its INSERT")

    return router


@pytest.fixture
def app(erp_api_settings: ApiSettings) -> FastAPI:
    app = create_app(erp_api_settings)
    app.include_router(_routes(), prefix="/api/v1")
    return app


async def _customers_named(session: AsyncSession, team: Team, name: str) -> int:
    statement = select(func.count()).where(
        CUSTOMERS.c.organization_id == uuid.UUID(team.id), CUSTOMERS.c.name == name
    )
    return int(await session.scalar(statement) or 0)


async def test_a_route_that_never_runs_its_guarded_insert_commits_nothing(
    client: httpx.AsyncClient, team: Team, db_session: AsyncSession
) -> None:
    outsider = await client.post(team.url("/claim-probes/unsettled"), headers=team.outsider.headers)
    member = await client.post(team.url("/claim-probes/unsettled"), headers=team.member.headers)

    assert outsider.status_code == 404
    assert outsider.json()["detail"] == "Organization not found"
    assert member.status_code == 500
    assert await _customers_named(db_session, team, "unsettled") == 0


async def test_a_claimed_row_cannot_name_another_organization(
    client: httpx.AsyncClient, team: Team, db_session: AsyncSession
) -> None:
    response = await client.post(team.url("/claim-probes/elsewhere"), headers=team.member.headers)

    assert response.status_code == 500
    assert await _customers_named(db_session, team, "elsewhere") == 0
    assert await db_session.scalar(select(func.count()).where(CUSTOMERS.c.name == "elsewhere")) == 0


async def test_a_failure_after_the_guarded_insert_rolls_it_back(
    committing_client: httpx.AsyncClient, committed_team: Team, erp_db_session: AsyncSession
) -> None:
    # Through the app's own unit of work, as deployed: a real transaction, really rolled back.
    team = committed_team
    url = team.url("/claim-probes/fails-after")
    response = await committing_client.post(url, headers=team.member.headers)

    assert response.status_code == 500
    assert await _customers_named(erp_db_session, team, "fails-after") == 0
