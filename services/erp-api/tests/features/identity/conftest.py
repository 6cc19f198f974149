"""Fixtures of the identity tests: users and their credentials.

The feature tests' ``client`` commits for real (``tests/features/conftest.py``),
so ``make_user`` commits too and every user has a unique email: the database
and Redis are shared by the whole session (and Redis by parallel runs).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from erp_api import ApiSettings
from erp_api.testing.identity import bearer_headers, insert_user
from erp_db import User

MakeUser = Callable[..., Awaitable[User]]
AuthHeaders = Callable[[User], dict[str, str]]


@pytest.fixture
def make_user(erp_db_engine: AsyncEngine) -> MakeUser:
    """A committed user; pass ``password=`` for one that can log in (costs one hash)."""

    async def make(**fields: Any) -> User:
        return await insert_user(erp_db_engine, **fields)

    return make


@pytest.fixture
def auth_headers(erp_api_settings: ApiSettings) -> AuthHeaders:
    """``Authorization`` headers with a fresh access token of a user, for the ``app`` fixture's settings."""

    def headers(user: User) -> dict[str, str]:
        return bearer_headers(erp_api_settings, user.id)

    return headers
