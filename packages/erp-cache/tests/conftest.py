"""Private Redis servers for the tests, so they can set a password and stop the server at will.

pytest-redis starts each one on a free port, with ``requirepass`` when given a
password, and stops it at the end of the session; nothing here touches the
shared development Redis.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from pytest_redis import factories
from pytest_redis.executor import RedisExecutor
from redis.asyncio import Redis

from erp_cache import close_redis, create_redis

REDIS_PASSWORD = "test-only:p@ss/w%rd"

secured_redis = factories.redis_proc(password=REDIS_PASSWORD)
stoppable_redis = factories.redis_proc()


@pytest.fixture
def redis_password() -> str:
    return REDIS_PASSWORD


@pytest.fixture
def redis_url(secured_redis: RedisExecutor) -> str:
    """The secured server's URL, password percent-quoted as RedisSettings.url does it."""
    return f"redis://:test-only%3Ap%40ss%2Fw%25rd@{secured_redis.host}:{secured_redis.port}/0"


@pytest.fixture
def client_name() -> str:
    """A name no other test's connections carry, so CLIENT LIST tells them apart."""
    return f"erp-cache-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def client(redis_url: str, client_name: str) -> AsyncIterator[Redis]:
    client = create_redis(redis_url, client_name=client_name)
    yield client
    await close_redis(client)


@pytest.fixture
async def observer(secured_redis: RedisExecutor) -> AsyncIterator[Redis]:
    """A plain redis-py client, independent of the code under test, for looking at the server."""
    observer = Redis(
        host=secured_redis.host, port=secured_redis.port, password=REDIS_PASSWORD, decode_responses=True
    )
    yield observer
    await observer.aclose()
