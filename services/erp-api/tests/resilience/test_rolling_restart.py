"""The rolling-restart drill (docs/contract.md §11): API replicas and the worker restarted under load.

Three ``erp-api serve`` replicas run behind a private HAProxy that checks
``/healthz/ready``, and one ``erp-worker run`` relays the outbox and sends
the invitation mails to an SMTP server in this process (aiosmtpd). A paced
client sends about 100 requests/s through HAProxy, round robin over the
health routes and the feature routes that read the database
(``/api/v1/users/me``, ``/api/v1/organizations``, with a bearer token), and
beside them 4 invitations/s (``POST .../invitations``, a unique address
each) into an organisation of that user. Meanwhile, as in a rolling deploy
whose migration runs first, a newer schema (a test-only revision after the
shipped head) is applied while the replicas run; then the worker is
stopped with SIGTERM (it must exit 0 within its ``SHUTDOWN_TIMEOUT_S``) and
replaced; then each replica in turn is taken out of HAProxy, drained,
stopped with SIGTERM, replaced by a new process and put back.

The restart step does what Kubernetes does for a pod: the endpoint is
removed first (here ``set server ... state maint`` on HAProxy's runtime API;
in Kubernetes the EndpointSlice update, with a ``preStop`` sleep covering
its propagation), the requests in flight end, and only then SIGTERM
arrives. HAProxy retries an idempotent request that meets a closed
connection on another server (``retry-on``, ``option redispatch``), for the
race of a keep-alive connection closed by the stopping replica; a 5xx is
never retried. Every answer that is not 2xx, and every transport error,
fails the drill.

The invitations go through HAProxy in every phase, the replica restarts
included. A POST is not safe to send twice, so it must never meet a
stopping replica: that is what the drain before SIGTERM is for, and
sending the POSTs only between restarts (or straight to a replica that
stays up) would leave it untested. Were one replayed after all (HAProxy's
documentation does not limit ``retry-on empty-response`` to idempotent
methods), the retry count below the table would show it, and so would the
mail check: a replayed invitation is a second invitation, and a second
mail, to its address. Each one answered 201 has committed its mail job
with the invitation (the outbox); after the load stops, the drill waits
(at most ``MAIL_WITHIN_S``) until every invited address has a mail, a few
seconds more for a late duplicate, and then requires exactly one mail per
invited address and none to any other: the worker's restart lost no job
and sent none twice. The table of phases, with a line on the worker's stop
and the mails, is printed at the end of the run (and recorded in the
README).

Run it with ``tools/nox -s drill`` (part of the default run).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from erp_api import ApiSettings
from erp_api_testing import HAProxyServer, PostgresServer, ServiceProcess
from erp_api_testing.identity import bearer_headers, insert_user
from erp_api_testing.organizations import Caller, OrganizationsApi
from erp_core.testing import settings_from_env
from erp_db import create_engine
from erp_db.testing import temporary_database, upgrade_as_newer_release

from .mail_catcher import MailCatcher, smtp_server
from .worker_process import WorkerProcess

# The drill runs about a minute and a half; on a busy two-core machine, more.
pytestmark = [pytest.mark.drill, pytest.mark.timeout(300)]

REPLICAS = ("r1", "r2", "r3")
RATE_PER_S = 100
STEADY_S = 5.0
SETTLE_S = 2.0  # between two restarts, as a Deployment's minReadySeconds would
JWT_SECRET_KEY = "drill-only-jwt-secret-key-of-at-least-32-bytes"
ROUTES = ("/healthz/live", "/healthz/ready", "/api/v1/users/me", "/api/v1/organizations")
INVITATIONS_PER_S = 4
INVITE = "POST /api/v1/organizations/{id}/invitations"
WORKER_SHUTDOWN_TIMEOUT_S = 10.0
MAIL_WITHIN_S = 60.0
# A second mail would come from a job run twice: once more by the next relay pass (0.5 s) or
# the first retry (2 s backoff). Waited for after the last first mail, so a duplicate is seen.
DUPLICATE_GRACE_S = 3.0


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
    """About ``rate`` reads and ``invitation_rate`` invitations per second through ``base_url``.

    Each outcome is filed under the current phase; the address of each
    invitation answered 201 is kept in ``invited``.
    """

    base_url: str
    headers: dict[str, str]
    invitations_path: str
    rate: int = RATE_PER_S
    invitation_rate: int = INVITATIONS_PER_S
    phase: str = "start"
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)
    invited: list[str] = dataclasses.field(default_factory=list)
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
            await asyncio.gather(
                self._paced(self.rate, lambda sent: self._one(client, ROUTES[sent % len(ROUTES)])),
                self._paced(self.invitation_rate, lambda _: self._invite(client)),
            )

    async def _paced(self, rate: int, send: Callable[[int], Coroutine[Any, Any, None]]) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        interval = 1 / rate
        next_at = time.monotonic()
        sent = 0
        while self._running:
            task = asyncio.create_task(send(sent))
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

    async def _invite(self, client: httpx.AsyncClient) -> None:
        # A POST: only the drain before each SIGTERM keeps it off a stopping replica.
        body = {"email": f"drill-{uuid.uuid4().hex[:16]}@example.org", "role": "member"}
        phase, started = self.phase, time.monotonic()
        try:
            response = await client.post(self.invitations_path, json=body, headers=self.headers)
            status: int | str = response.status_code
            if status == 201:
                self.invited.append(response.json()["email"])
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        self.outcomes.append(Outcome(phase, INVITE, status, time.monotonic() - started))


def phase_table(load: PacedLoad, retries: int, redispatches: int) -> str:
    """One row per phase: duration, requests (invitations among them), failures, latency percentiles."""
    rows = [
        "| phase | s | requests | req/s | invitations | failed | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def row(name: str, seconds: float, outcomes: list[Outcome]) -> str:
        latencies = sorted(outcome.latency_s * 1000 for outcome in outcomes) or [0.0]
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        failed = sum(outcome.failed for outcome in outcomes)
        invitations = sum(outcome.route == INVITE and outcome.status == 201 for outcome in outcomes)
        return (
            f"| {name} | {seconds:.1f} | {len(outcomes)} | {len(outcomes) / seconds:.0f} | {invitations} "
            f"| {failed} | {statistics.median(latencies):.0f} | {p99:.0f} | {latencies[-1]:.0f} |"
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
def smtp() -> Iterator[tuple[MailCatcher, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def start_worker(
    drill_database: str, smtp: tuple[MailCatcher, int], tmp_path: Path
) -> Iterator[Callable[[], WorkerProcess]]:
    """Start ``erp-worker run`` on the drill's database, mailing through ``smtp``; stopped at the end."""
    env = {
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "INFO",
        "APP_NAME": "erp-worker-drill",
        "DATABASE_URL": drill_database,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp[1]),
        "SMTP_STARTTLS": "false",
        "SHUTDOWN_TIMEOUT_S": str(WORKER_SHUTDOWN_TIMEOUT_S),
    }
    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        started.append(WorkerProcess(env, tmp_path, name=f"erp-worker-{len(started)}"))
        return started[-1]

    yield start
    for worker in started:
        worker.stop(WORKER_SHUTDOWN_TIMEOUT_S)


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


async def wait_for_mails(catcher: MailCatcher, invited: list[str]) -> float:
    """Until every invited address has a mail (at most MAIL_WITHIN_S), then a grace for duplicates.

    Returns the seconds until every invited address had its mail (or MAIL_WITHIN_S, when one never did).
    """
    started = time.monotonic()
    while not set(invited) <= catcher.received().keys() and time.monotonic() - started < MAIL_WITHIN_S:
        await asyncio.sleep(0.1)
    waited_s = time.monotonic() - started
    await asyncio.sleep(DUPLICATE_GRACE_S)
    return waited_s


async def test_rolling_restart_of_api_and_worker_under_load_fails_no_request_and_mails_each_invitation_once(
    start_service: Callable[..., ServiceProcess],
    drill_database: str,
    haproxy_for: Callable[[dict[str, int]], HAProxyServer],
    smtp: tuple[MailCatcher, int],
    start_worker: Callable[[], WorkerProcess],
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
    owner = Caller(user.id, user.email, bearer_headers(settings, user.id))

    worker = start_worker()
    replicas = dict(zip(REPLICAS, [start_service(**env) for _ in REPLICAS], strict=True))
    for replica in replicas.values():
        await replica.wait_until("/healthz/ready", 200, within_s=60)
    await worker.wait_until_ready()
    async with httpx.AsyncClient(base_url=replicas["r1"].base_url, timeout=15) as client:
        organization = await OrganizationsApi(client).create_organization(owner)
    proxy = haproxy_for({name: replica.port for name, replica in replicas.items()})
    for name in REPLICAS:
        await wait_for_status(proxy, name, "UP")

    invitations_path = f"/api/v1/organizations/{organization['id']}/invitations"
    load = PacedLoad(f"http://{proxy.host}:{proxy.port}", owner.headers, invitations_path)
    load.enter("steady, 3 replicas")
    driving = asyncio.create_task(load.run())
    try:
        await asyncio.sleep(STEADY_S)
        load.enter("newer schema applied (erp-db upgrade)")
        await asyncio.to_thread(upgrade_as_newer_release, drill_database)
        await asyncio.sleep(STEADY_S)  # the old replicas must stay ready: ahead of their head
        load.enter("restart the worker")
        exit_status, worker_stop_s = await asyncio.to_thread(worker.stop, WORKER_SHUTDOWN_TIMEOUT_S)
        assert exit_status == 0, f"exit {exit_status} (-9: killed at the deadline)\n{worker.log_tail()}"
        worker = start_worker()
        await worker.wait_until_ready()
        await asyncio.sleep(SETTLE_S)
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

    catcher, _ = smtp
    mail_s = await wait_for_mails(catcher, load.invited)
    received = catcher.received()
    missing = [address for address in load.invited if address not in received]
    backend = proxy.server_stats("BACKEND")
    table = phase_table(load, int(backend["wretr"] or 0), int(backend["wredis"] or 0)) + (
        f"\nWorker: stopped by SIGTERM in {worker_stop_s:.1f} s (exit 0). Mail: {len(load.invited)} "
        f"invitations, {received.total()} mails to {len(received)} addresses; "
        + (f"{len(missing)} invited addresses had none" if missing else "every invited address had its mail")
        + f" {mail_s:.1f} s after the load stopped."
    )
    (tmp_path / "drill.md").write_text(table + "\n", encoding="utf-8")
    record_property("resilience", "rolling-restart drill\n" + table)
    failures = [outcome for outcome in load.outcomes if outcome.failed]
    assert failures == [], failures[:10]
    assert missing == [], f"{len(missing)} of {len(load.invited)} invitations never mailed: {missing[:5]}"
    assert received == collections.Counter(load.invited), {
        address: count for address, count in received.items() if count != 1 or address not in load.invited
    }
