"""The rolling-restart drill (docs/contract.md §11): three replicas behind HAProxy, zero failed requests.

Three ``erp-api serve`` replicas run behind a private HAProxy that checks
``/healthz/ready``. A paced client sends about 100 requests/s through it,
round robin over the health routes and the feature routes that read the
database (``/api/v1/users/me``, ``/api/v1/organizations``, with a bearer
token). Meanwhile, as in a rolling deploy whose migration runs first, a
newer schema (a test-only revision after the shipped head) is applied while
the replicas run; then each replica in turn is taken out of HAProxy,
drained, stopped with SIGTERM, replaced by a new process and put back.

The restart step does what Kubernetes does for a pod: the endpoint is
removed first (here ``set server ... state maint`` on HAProxy's runtime API;
in Kubernetes the EndpointSlice update, with a ``preStop`` sleep covering
its propagation), the requests in flight end, and only then SIGTERM
arrives. HAProxy retries an idempotent request that meets a closed
connection on another server (``retry-on``, ``option redispatch``), for the
race of a keep-alive connection closed by the stopping replica; a 5xx is
never retried. Every answer that is not 2xx, and every transport error,
fails the drill. The table of phases is printed at the end of the run (and
recorded in the README).

Run it with ``tools/nox -s drill`` (part of the default run).
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from erp_api import ApiSettings
from erp_api.testing import HAProxyServer, PostgresServer, ServiceProcess
from erp_api.testing.identity import bearer_headers, insert_user
from erp_core.testing import settings_from_env
from erp_db import create_engine
from erp_db.testing import temporary_database, upgrade_as_newer_release

# The drill runs about a minute and a half; on a busy two-core machine, more.
pytestmark = [pytest.mark.drill, pytest.mark.timeout(300)]

REPLICAS = ("r1", "r2", "r3")
RATE_PER_S = 100
STEADY_S = 5.0
SETTLE_S = 2.0  # between two restarts, as a Deployment's minReadySeconds would
JWT_SECRET_KEY = "drill-only-jwt-secret-key-of-at-least-32-bytes"
ROUTES = ("/healthz/live", "/healthz/ready", "/api/v1/users/me", "/api/v1/organizations")


@dataclasses.dataclass
class Outcome:
    phase: str
    route: str
    status: int | str  # the HTTP status, or the transport error's name
    latency_s: float

    @property
    def failed(self) -> bool:
        return not (isinstance(self.status, int) and 200 <= self.status < 300)


@dataclasses.dataclass
class PacedLoad:
    """About ``rate`` requests per second through ``base_url``, each filed under the current phase."""

    base_url: str
    headers: dict[str, str]
    rate: int = RATE_PER_S
    phase: str = "start"
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)
    phases: list[tuple[str, float, float]] = dataclasses.field(default_factory=list)
    _phase_started: float = 0.0
    _running: bool = True

    def enter(self, phase: str) -> None:
        now = time.monotonic()
        if self._phase_started:
            self.phases.append((self.phase, self._phase_started, now))
        self.phase, self._phase_started = phase, now

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=15, limits=limits) as client:
            in_flight: set[asyncio.Task[None]] = set()
            interval = 1 / self.rate
            next_at = time.monotonic()
            sent = 0
            while self._running:
                route = ROUTES[sent % len(ROUTES)]
                task = asyncio.create_task(self._one(client, route))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                sent += 1
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            await asyncio.gather(*in_flight)

    async def stop(self) -> None:
        self.enter("end")
        self._running = False

    async def _one(self, client: httpx.AsyncClient, route: str) -> None:
        phase, started = self.phase, time.monotonic()
        try:
            status: int | str = (await client.get(route, headers=self.headers)).status_code
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        self.outcomes.append(Outcome(phase, route, status, time.monotonic() - started))


def phase_table(load: PacedLoad, retries: int, redispatches: int) -> str:
    """One row per phase: duration, requests, failures, latency percentiles; the total below."""
    rows = [
        "| phase | s | requests | req/s | failed | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def row(name: str, seconds: float, outcomes: list[Outcome]) -> str:
        latencies = sorted(outcome.latency_s * 1000 for outcome in outcomes) or [0.0]
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        failed = sum(outcome.failed for outcome in outcomes)
        return (
            f"| {name} | {seconds:.1f} | {len(outcomes)} | {len(outcomes) / seconds:.0f} | {failed} "
            f"| {statistics.median(latencies):.0f} | {p99:.0f} | {latencies[-1]:.0f} |"
        )

    for name, started, ended in load.phases:
        rows.append(row(name, ended - started, [o for o in load.outcomes if o.phase == name]))
    total_s = load.phases[-1][2] - load.phases[0][1]
    rows.append(row("**total**", total_s, load.outcomes))
    rows.append(f"\nHAProxy: {retries} retries, {redispatches} redispatches to another replica.")
    return "\n".join(rows)


@pytest_asyncio.fixture(loop_scope="session")
async def drill_database(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A database of the drill's own (it is taken past the shipped head): migrated, dropped after."""
    async with temporary_database(postgres_server.admin_url) as url:
        yield url


@pytest.fixture
def haproxy_for() -> Iterator[Callable[[dict[str, int]], HAProxyServer]]:
    started: list[HAProxyServer] = []

    def start(backends: dict[str, int]) -> HAProxyServer:
        proxy = HAProxyServer(backends)
        started.append(proxy)
        proxy.start()
        return proxy

    yield start
    for proxy in started:
        proxy.remove()


async def wait_for_status(proxy: HAProxyServer, server: str, status: str, within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while (current := proxy.server_stats(server)["status"]) != status:
        assert time.monotonic() < deadline, f"{server} stayed {current}, never {status}"
        await asyncio.sleep(0.1)


async def wait_until_idle(proxy: HAProxyServer, server: str, within_s: float = 30.0) -> None:
    """Until HAProxy has no request in flight on ``server`` (what a preStop pause waits for)."""
    deadline = time.monotonic() + within_s
    while int(proxy.server_stats(server)["scur"] or 0) > 0:
        assert time.monotonic() < deadline, f"{server} still serving after {within_s:g} s"
        await asyncio.sleep(0.05)


async def test_rolling_restart_under_load_with_a_newer_schema_fails_no_request(
    start_service: Callable[..., ServiceProcess],
    drill_database: str,
    haproxy_for: Callable[[dict[str, int]], HAProxyServer],
    app_name: str,
    tmp_path: Path,
    record_property,
) -> None:
    env = {"DATABASE_URL": drill_database, "JWT_SECRET_KEY": JWT_SECRET_KEY, "HEALTH_CHECK_TIMEOUT_S": "3.0"}
    direct = create_engine(drill_database, application_name="drill")
    try:
        user = await insert_user(direct)
    finally:
        await direct.dispose()
    settings = settings_from_env(ApiSettings, {"ENVIRONMENT": "test", "APP_NAME": app_name, **env})

    replicas = dict(zip(REPLICAS, [start_service(**env) for _ in REPLICAS], strict=True))
    for replica in replicas.values():
        await replica.wait_until("/healthz/ready", 200, within_s=60)
    proxy = haproxy_for({name: replica.port for name, replica in replicas.items()})
    for name in REPLICAS:
        await wait_for_status(proxy, name, "UP")

    load = PacedLoad(f"http://{proxy.host}:{proxy.port}", bearer_headers(settings, user.id))
    load.enter("steady, 3 replicas")
    driving = asyncio.create_task(load.run())
    try:
        await asyncio.sleep(STEADY_S)
        load.enter("newer schema applied (erp-db upgrade)")
        await asyncio.to_thread(upgrade_as_newer_release, drill_database)
        await asyncio.sleep(STEADY_S)  # the old replicas must stay ready: ahead of their head
        for name in REPLICAS:
            load.enter(f"restart {name}")
            server = f"{HAProxyServer.BACKEND}/{name}"
            proxy.command(f"set server {server} state maint")
            await wait_until_idle(proxy, name)
            exit_status = await asyncio.to_thread(replicas[name].stop)
            assert exit_status == 0, replicas[name].log_tail()
            replacement = start_service(**env)
            await replacement.wait_until("/healthz/ready", 200, within_s=60)
            proxy.command(f"set server {server} addr {proxy.host} port {replacement.port}")
            proxy.command(f"set server {server} state ready")
            await wait_for_status(proxy, name, "UP")
            replicas[name] = replacement
            await asyncio.sleep(SETTLE_S)
        load.enter("steady after the restarts")
        await asyncio.sleep(STEADY_S)
    finally:
        await load.stop()
        await driving

    backend = proxy.server_stats("BACKEND")
    table = phase_table(load, int(backend["wretr"] or 0), int(backend["wredis"] or 0))
    (tmp_path / "drill.md").write_text(table + "\n", encoding="utf-8")
    record_property("resilience", "rolling-restart drill\n" + table)
    failures = [outcome for outcome in load.outcomes if outcome.failed]
    assert failures == [], failures[:10]
