"""create_redis / redis_from_settings / close_redis against a real, password-protected Redis."""

from __future__ import annotations

import asyncio

import pytest
from pytest_redis.executor import RedisExecutor
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError

from erp_cache.client import close_redis, create_redis, redis_from_settings
from erp_cache.errors import InvalidClientName, InvalidRedisUrl
from erp_cache.settings import RedisSettings
from erp_core.testing import settings_from_env


async def connections_named(observer: Redis, name: str) -> int:
    return sum(1 for entry in await observer.client_list() if entry["name"] == name)


async def test_client_from_settings_pings_the_server(
    secured_redis: RedisExecutor, redis_password: str, client_name: str
) -> None:
    settings = settings_from_env(
        RedisSettings,
        {
            "REDIS_HOST": secured_redis.host,
            "REDIS_PORT": str(secured_redis.port),
            "REDIS_PASSWORD": redis_password,
            "REDIS_CACHE_DB": "1",
        },
    )
    client = redis_from_settings(settings, client_name=client_name)
    try:
        assert await client.ping() is True
        assert (await client.client_info())["db"] == 1
    finally:
        await close_redis(client)


async def test_creating_a_client_opens_no_connection(
    redis_url: str, client_name: str, observer: Redis
) -> None:
    client = create_redis(redis_url, client_name=client_name)
    try:
        assert await connections_named(observer, client_name) == 0
    finally:
        await close_redis(client)


async def test_every_connection_carries_the_client_name(
    client: Redis, client_name: str, observer: Redis
) -> None:
    # Three commands that block together need three connections.
    await asyncio.gather(*(client.blpop([f"{client_name}:nothing"], timeout=0.2) for _ in range(3)))

    assert await connections_named(observer, client_name) == 3


async def test_pool_never_opens_more_than_max_connections(
    redis_url: str, client_name: str, observer: Redis
) -> None:
    client = create_redis(redis_url, client_name=client_name, max_connections=2)
    try:
        # The third command waits for a free connection instead of opening one or failing.
        await asyncio.gather(*(client.blpop([f"{client_name}:nothing"], timeout=0.2) for _ in range(3)))

        assert await connections_named(observer, client_name) == 2
    finally:
        await close_redis(client)


async def test_right_password_authenticates(client: Redis) -> None:
    await client.set("erp-cache-test:greeting", "hello", ex=10)

    assert await client.get("erp-cache-test:greeting") == b"hello"


async def test_wrong_password_fails_clearly_without_echoing_it(
    secured_redis: RedisExecutor, client_name: str
) -> None:
    wrong = "not-the-right-s3cret"
    client = create_redis(
        f"redis://:{wrong}@{secured_redis.host}:{secured_redis.port}/0", client_name=client_name
    )
    try:
        with pytest.raises(AuthenticationError) as caught:
            await client.ping()
    finally:
        await close_redis(client)

    message = str(caught.value)
    assert "invalid username-password pair" in message
    assert wrong not in message
    assert wrong not in repr(client)


async def test_closing_the_client_releases_its_connections(
    client: Redis, client_name: str, observer: Redis
) -> None:
    await asyncio.gather(*(client.blpop([f"{client_name}:nothing"], timeout=0.1) for _ in range(2)))
    assert await connections_named(observer, client_name) == 2

    await close_redis(client)

    # The server notices a closed socket on its next event-loop turn.
    for _ in range(50):
        if await connections_named(observer, client_name) == 0:
            break
        await asyncio.sleep(0.02)
    assert await connections_named(observer, client_name) == 0


async def test_closing_twice_is_harmless(redis_url: str, client_name: str) -> None:
    client = create_redis(redis_url, client_name=client_name)
    await client.ping()

    await close_redis(client)
    await close_redis(client)


async def test_client_that_was_never_used_closes(redis_url: str, client_name: str) -> None:
    await close_redis(create_redis(redis_url, client_name=client_name))


@pytest.mark.parametrize("url", ["http://:url-s3cret@cache:6379/0", "redis://:url-s3cret@cache:port/0"])
def test_url_redis_py_cannot_use_is_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(InvalidRedisUrl) as caught:
        create_redis(url, client_name="erp-api")

    assert "url-s3cret" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


@pytest.mark.parametrize("name", ["", "erp api", "erp-api\n", "érp"])
def test_client_name_redis_would_refuse_is_refused_at_creation(redis_url: str, name: str) -> None:
    with pytest.raises(InvalidClientName):
        create_redis(redis_url, client_name=name)


@pytest.mark.parametrize(
    "bounds",
    [
        {"max_connections": 0},
        {"socket_timeout": 0},
        {"socket_connect_timeout": -1},
        {"health_check_interval": -1},
        {"retries": -1},
    ],
)
def test_unbounded_or_impossible_limits_are_refused(redis_url: str, bounds: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(bounds))):
        create_redis(redis_url, client_name="erp-api", **bounds)  # type: ignore[arg-type]
