"""Fixtures of the organisation tests: signed-in users, and the API to set things up with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from erp_api.testing.identity import bearer_headers, insert_user
from erp_api.testing.organizations import Caller, OrganizationsApi

MakeCaller = Callable[..., Awaitable[Caller]]


@pytest.fixture
def make_caller(erp_db_engine: AsyncEngine, make_settings: Any) -> MakeCaller:
    """A new user with a unique email, and the bearer token that signs their requests in."""
    settings = make_settings()

    async def make(*, email: str | None = None, full_name: str = "") -> Caller:
        user = await insert_user(erp_db_engine, email=email, full_name=full_name)
        return Caller(id=user.id, email=user.email, headers=bearer_headers(settings, user.id))

    return make


@pytest.fixture
def api(client: httpx.AsyncClient) -> OrganizationsApi:
    return OrganizationsApi(client)
