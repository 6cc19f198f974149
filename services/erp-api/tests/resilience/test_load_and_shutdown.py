"""64 clients on /healthz/ready with a small pool: no 5xx, the pool bound holds, SIGTERM drains cleanly."""

from __future__ import annotations

import asyncio
import time

import pytest

from erp_api_testing import ConnectionSampler, PostgresServer, count_connections

from .load_client import run_load

pytestmark = pytest.mark.resilience

CLIENTS = 64
LOAD_S = 10.0
POOL = {"DATABASE_POOL_SIZE": "3", "DATABASE_MAX_OVERFLOW": "2"}
POOL_BOUND = 5
# Under load on a small machine a probe can be slow; the budget is the default, not the test's tight one.
LOAD_SETTINGS = {**POOL, "HEALTH_CHECK_TIMEOUT_S": "2.0"}
EXIT_WITHIN_S = 10.0


async def test_64_clients_for_10_s_get_no_5xx_and_the_service_stays_within_its_pool(
    start_service, postgres_server: PostgresServer, app_name: str, record_property
):
    service = start_service(**LOAD_SETTINGS)
    await service.wait_until("/healthz/ready", 200, within_s=30)

    deadline = time.monotonic() + LOAD_S
    async with ConnectionSampler(postgres_server.admin_url, application_name=app_name) as sampler:
        report = await run_load(
            service.port, "/healthz/ready", clients=CLIENTS, keep_going=lambda: time.monotonic() < deadline
        )

    record_property(
        "resilience",
        f"{CLIENTS} clients x {LOAD_S:g} s: {report.summary()}; service connections in "
        f"pg_stat_activity: max {max(sampler.samples)} over {len(sampler.samples)} samples",
    )
    assert report.server_errors == 0
    assert set(report.statuses) == {200}
    assert report.refused == report.before_answer == 0
    assert report.truncated == []
    assert sum(report.statuses.values()) >= CLIENTS * 10  # the load was real
    assert len(sampler.samples) >= 50
    assert 1 <= max(sampler.samples) <= POOL_BOUND  # seen at all, and never beyond the bound


async def test_sigterm_under_load_exits_0_in_time_finishing_every_answer_it_started(
    start_service, postgres_server: PostgresServer, app_name: str, record_property
):
    service = start_service(**LOAD_SETTINGS)
    await service.wait_until("/healthz/ready", 200, within_s=30)

    give_up = time.monotonic() + 30
    load = asyncio.create_task(
        run_load(
            service.port,
            "/healthz/ready",
            clients=CLIENTS,
            keep_going=lambda: service.process.poll() is None and time.monotonic() < give_up,
            tag="sigterm",
        )
    )
    await asyncio.sleep(3)
    signalled = time.monotonic()
    service.terminate()
    while service.process.poll() is None and time.monotonic() - signalled < EXIT_WITHIN_S + 5:
        await asyncio.sleep(0.02)
    exited_after_s = time.monotonic() - signalled
    report = await load

    records = service.log_records()
    logged = {
        record["request_id"]
        for record in records
        if record["logger"] == "erp_api.access" and record.get("request_id", "").startswith("sigterm-")
    }
    remaining = await _connections_after_exit(postgres_server.admin_url, app_name)
    record_property(
        "resilience",
        f"SIGTERM under {CLIENTS} clients: exit {service.process.returncode} after {exited_after_s:.2f} s; "
        f"{report.summary()}; {len(logged)} logged; {remaining} connections left",
    )
    assert service.process.returncode == 0, service.log_tail()
    assert exited_after_s <= EXIT_WITHIN_S
    assert report.truncated == []  # every answer that started was finished
    assert report.server_errors == 0
    assert logged <= report.answered  # every request it logged, its client received whole
    assert sum(report.statuses.values()) >= CLIENTS  # the load was real
    assert remaining == 0
    # The pools were closed by the lifespan, and no session of the service ended mid-transaction.
    assert any(record["message"].startswith("stopped: database and redis pools closed") for record in records)
    assert not [
        line
        for line in postgres_server.log_text().splitlines()
        if f"app={app_name}" in line and "EOF" in line
    ]


async def _connections_after_exit(admin_url: str, app_name: str) -> int:
    # A backend leaves pg_stat_activity a moment after its client has gone.
    deadline = time.monotonic() + 2
    while (count := await count_connections(admin_url, app_name)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return count
