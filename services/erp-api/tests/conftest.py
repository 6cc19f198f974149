"""Fixtures: real PostgreSQL (a throwaway migrated database from erp_db.testing) and real Redis."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from erp_api import ApiSettings, create_app
from erp_core.testing import settings_from_env
from erp_db.testing import erp_db_engine, erp_db_url  # noqa: F401  (fixtures; pytest_plugins must be top-level)

MakeSettings = Callable[..., ApiSettings]


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def make_settings(erp_db_url: str, redis_url: str) -> MakeSettings:  # noqa: F811
    """Settings from an explicit environment: the test database and Redis, plus ``overrides``."""

    def make(**overrides: str) -> ApiSettings:
        env = {
            "ENVIRONMENT": "test",
            "DATABASE_URL": erp_db_url,
            "APP_CACHE_REDIS_URL": redis_url,
            "HEALTH_CHECK_TIMEOUT_S": "1.0",
            # Required in staging and production (docs/contract.md §2); fixed so tests agree.
            "JWT_SECRET_KEY": "test-only-jwt-secret-key-of-at-least-32-bytes",
            **overrides,
        }
        return settings_from_env(ApiSettings, env)

    return make


@contextlib.asynccontextmanager
async def serve_in_process(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and talk to it over ASGI, handing each request a copy of
    the lifespan state as uvicorn does (httpx's transport sends no lifespan events)."""
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: dict[str, Any], receive: Any, send: Any) -> None:
            scope["state"] = dict(state or {})
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state, client=("203.0.113.7", 51234))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture
async def client(make_settings: MakeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(create_app(make_settings())) as client:
        yield client
