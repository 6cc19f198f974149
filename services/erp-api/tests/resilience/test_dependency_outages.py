"""PostgreSQL or Redis stopped under a running service: ready says so in time, live stays up, both recover."""

from __future__ import annotations

import contextlib
import time

import httpx
import pytest

from erp_api_testing import PostgresServer, RedisServer

from .conftest import HEALTH_CHECK_TIMEOUT_S

pytestmark = pytest.mark.resilience

# The answer may come this long after the probe's budget: scheduling, not waiting.
SLACK_S = 0.5
RECOVERY_S = 10.0


async def timed_get(client: httpx.AsyncClient, path: str) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = await client.get(path)
    return time.perf_counter() - started, response


async def ride_out(
    service, outage: contextlib.AbstractContextManager[object]
) -> tuple[list[tuple[float, httpx.Response]], httpx.Response, httpx.Response]:
    """Two timed ready calls and one live call during ``outage``, then ready once it is over.

    Also checks the same process served all of it.
    """
    await service.wait_until("/healthz/ready", 200, within_s=30)
    pid = service.pid
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
        with outage:
            ready = [await timed_get(client, "/healthz/ready") for _ in range(2)]
            live = await client.get("/healthz/live")
        back = await service.wait_until("/healthz/ready", 200, within_s=RECOVERY_S)
    assert service.process.poll() is None
    assert service.pid == pid
    return ready, live, back


async def test_postgres_stopped_ready_is_503_naming_the_database_live_is_200_and_it_recovers(
    start_service, postgres_server: PostgresServer, record_property
):
    outage, live, back = await ride_out(start_service(), postgres_server.stopped())

    for elapsed, ready in outage:
        assert ready.status_code == 503
        assert elapsed <= HEALTH_CHECK_TIMEOUT_S + SLACK_S
        checks = ready.json()["checks"]
        assert checks["database"]["status"] == "fail"
        assert checks["database"]["error"]  # the reason, e.g. the refused connection
        assert checks["migrations"]["status"] == "fail"
        assert checks["migrations"]["error"] == "database unavailable"
        assert checks["redis"]["status"] == "ok"
    assert live.status_code == 200
    assert back.json()["status"] == "ok"
    record_property(
        "resilience",
        f"database down: 503 in {max(e for e, _ in outage):.3f} s, "
        f"error {outage[0][1].json()['checks']['database']['error']!r}",
    )


async def test_redis_stopped_ready_is_503_naming_redis_live_is_200_and_it_recovers(
    start_service, redis_server: RedisServer, record_property
):
    outage, live, back = await ride_out(start_service(), redis_server.stopped())

    for elapsed, ready in outage:
        assert ready.status_code == 503
        assert elapsed <= HEALTH_CHECK_TIMEOUT_S + SLACK_S
        checks = ready.json()["checks"]
        assert checks["redis"]["status"] == "fail"
        assert checks["redis"]["error"]
        assert checks["database"]["status"] == checks["migrations"]["status"] == "ok"
    assert live.status_code == 200
    assert back.json()["status"] == "ok"
    record_property(
        "resilience",
        f"redis down: 503 in {max(e for e, _ in outage):.3f} s, "
        f"error {outage[0][1].json()['checks']['redis']['error']!r}",
    )
