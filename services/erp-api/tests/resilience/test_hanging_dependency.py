"""A dependency that accepts connections and never answers: ready fails in time, the loop stays free."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from erp_api_testing import PostgresServer, RedisServer

from .conftest import HEALTH_CHECK_TIMEOUT_S, with_port
from .tcp_proxy import TcpProxy

pytestmark = pytest.mark.resilience

SLACK_S = 0.5
LIVE_BUDGET_S = 0.1
RECOVERY_S = 10.0


@pytest.mark.parametrize("dependency", ["database", "redis"])
async def test_a_hanging_dependency_fails_ready_in_time_while_live_answers_promptly(
    dependency: str,
    start_service,
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    database_url: str,
    record_property,
):
    if dependency == "database":
        proxy = TcpProxy("127.0.0.1", postgres_server.port)
        overrides = {"DATABASE_URL": with_port(database_url, await proxy.start())}
    else:
        proxy = TcpProxy(redis_server.host, redis_server.port)
        overrides = {"APP_CACHE_REDIS_URL": f"redis://127.0.0.1:{await proxy.start()}/0"}
    try:
        service = start_service(**overrides)
        await service.wait_until("/healthz/ready", 200, within_s=30)

        proxy.hang()  # pooled connections and new ones alike: accepted, never answered
        live_timings: list[tuple[float, int]] = []
        polling = True

        async def poll_live(client: httpx.AsyncClient) -> None:
            while polling:
                started = time.perf_counter()
                response = await client.get("/healthz/live")
                live_timings.append((time.perf_counter() - started, response.status_code))
                await asyncio.sleep(0.02)

        async with (
            httpx.AsyncClient(base_url=service.base_url, timeout=10) as ready_client,
            httpx.AsyncClient(base_url=service.base_url, timeout=10) as live_client,
        ):
            await live_client.get("/healthz/live")  # connected before the clock starts
            poller = asyncio.create_task(poll_live(live_client))
            hung = []
            # Several in a row: probes abandoned at their deadline must not pile up.
            for _ in range(3):
                started = time.perf_counter()
                hung.append((await ready_client.get("/healthz/ready"), time.perf_counter() - started))
            polling = False
            await poller

        proxy.resume()
        back = await service.wait_until("/healthz/ready", 200, within_s=RECOVERY_S)
    finally:
        await proxy.close()

    for response, elapsed in hung:
        assert response.status_code == 503
        assert elapsed <= HEALTH_CHECK_TIMEOUT_S + SLACK_S
        check = response.json()["checks"][dependency]
        assert check["status"] == "fail"
        assert check["error"] == f"timed out after {HEALTH_CHECK_TIMEOUT_S:g} s"
    assert len(live_timings) >= 20  # live kept being asked for the whole outage
    assert {status for _, status in live_timings} == {200}
    assert max(elapsed for elapsed, _ in live_timings) < LIVE_BUDGET_S
    assert back.json()["status"] == "ok"  # and it recovers once the dependency answers again
    record_property(
        "resilience",
        f"{dependency} hanging: 503 in {max(e for _, e in hung):.3f} s; "
        f"{len(live_timings)} live answers, slowest {max(e for e, _ in live_timings) * 1000:.1f} ms",
    )
