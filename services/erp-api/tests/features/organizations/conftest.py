"""Fixtures of the organisation tests: signed-in users, and the API to set things up with.

``make_caller`` and ``api`` work in the test's transaction (the plugin's
``client``): nothing they write outlives the test. Inside one transaction
``now()`` stands still, so every row gets the same ``created_at``; tests of
an order in time, and races between connections, use the committing pair
``make_committed_caller`` and ``committing_api`` instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from erp_api.testing.identity import bearer_headers, insert_user
from erp_api.testing.organizations import Caller, OrganizationsApi

MakeCaller = Callable[..., Awaitable[Caller]]


def _caller_factory(bind: AsyncEngine | AsyncSession, settings: Any) -> MakeCaller:
    async def make(*, email: str | None = None, full_name: str = "") -> Caller:
        user = await insert_user(bind, email=email, full_name=full_name)
        return Caller(id=user.id, email=user.email, headers=bearer_headers(settings, user.id))

    return make


@pytest.fixture
def make_caller(db_session: AsyncSession, make_settings: Any) -> MakeCaller:
    """A new user (unique email) in the test's transaction, and the bearer token that signs them in."""
    return _caller_factory(db_session, make_settings())


@pytest.fixture
def make_committed_caller(erp_db_engine: AsyncEngine, make_settings: Any) -> MakeCaller:
    """As ``make_caller``, but committed: for ``committing_api``."""
    return _caller_factory(erp_db_engine, make_settings())


@pytest.fixture
def api(client: httpx.AsyncClient) -> OrganizationsApi:
    return OrganizationsApi(client)


@pytest.fixture
def committing_api(committing_client: httpx.AsyncClient) -> OrganizationsApi:
    return OrganizationsApi(committing_client)
