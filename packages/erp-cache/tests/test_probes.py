"""probe_redis: a readiness answer within its timeout, whatever state Redis is in."""

from __future__ import annotations

import time

import pytest
from pytest_redis.executor import RedisExecutor
from redis.asyncio import Redis

from erp_cache.client import close_redis, create_redis
from erp_cache.probes import probe_redis
from erp_core.testing import unresponsive_server

# How far past its timeout a probe may answer: scheduling, not waiting.
SLACK_S = 0.2


async def timed_probe(client: Redis, timeout: float) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    result = await probe_redis(client, timeout=timeout)
    return time.perf_counter() - started, result.as_dict()


async def test_probe_is_ok_when_redis_answers(client: Redis) -> None:
    result = await probe_redis(client, timeout=1.0)

    assert result.ok
    assert result.error is None
    assert 0 <= result.latency_ms < 1000


async def test_probe_reports_a_wrong_password_without_echoing_it(
    secured_redis: RedisExecutor, client_name: str
) -> None:
    wrong = "not-the-right-s3cret"
    client = create_redis(
        f"redis://:{wrong}@{secured_redis.host}:{secured_redis.port}/0", client_name=client_name
    )
    try:
        result = await probe_redis(client, timeout=1.0)
    finally:
        await close_redis(client)

    assert result.status == "fail"
    assert result.error is not None
    assert result.error.startswith("AuthenticationError: ")
    assert wrong not in result.error


@pytest.mark.resilience
async def test_probe_fails_within_its_timeout_while_redis_is_down_and_the_same_client_recovers(
    stoppable_redis: RedisExecutor, client_name: str
) -> None:
    client = create_redis(f"redis://{stoppable_redis.host}:{stoppable_redis.port}/0", client_name=client_name)
    try:
        assert (await probe_redis(client, timeout=1.0)).ok  # the pool now holds a connection

        with stoppable_redis.stopped():
            elapsed, down = await timed_probe(client, timeout=1.0)

            assert down["status"] == "fail"
            assert elapsed <= 1.0 + SLACK_S
            # A refused connection fails fast, retries and backoff included.
            assert str(down["error"]).startswith("ConnectionError: ")
            assert str(stoppable_redis.port) in str(down["error"])

        _, back = await timed_probe(client, timeout=1.0)
        assert back["status"] == "ok", back
    finally:
        await close_redis(client)


async def test_probe_fails_within_its_timeout_against_a_server_that_never_answers(client_name: str) -> None:
    async with unresponsive_server() as port:
        # The client's own bounds (2 s per attempt, two retries) are far looser than the probe's.
        client = create_redis(f"redis://127.0.0.1:{port}/0", client_name=client_name)
        try:
            elapsed, result = await timed_probe(client, timeout=0.5)

            assert result["status"] == "fail"
            assert result["error"] == "timed out after 0.5 s"
            assert elapsed <= 0.5 + SLACK_S

            # The abandoned PING holds nothing up: another probe is just as prompt.
            elapsed, _ = await timed_probe(client, timeout=0.3)
            assert elapsed <= 0.3 + SLACK_S
        finally:
            started = time.perf_counter()
            await close_redis(client)
        assert time.perf_counter() - started <= SLACK_S
