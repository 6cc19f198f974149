"""Prometheus series of docs/contract.md §12, recorded in process and read as a scraper would."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from erp_api import create_app
from erp_api.metrics import LOGIN_OUTCOMES, UNMATCHED_ROUTE, record_login
from erp_api.metrics_listener import LiveWorkersCollector
from erp_api.middleware.metrics import MetricsMiddleware


def samples(registry: CollectorRegistry = REGISTRY) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the registry's text exposition, keyed by name and labels."""
    exposition = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(name: str, **labels: str) -> float:
    return samples().get((name, frozenset(labels.items())), 0.0)


def series_count() -> int:
    return len(samples())


async def test_requests_are_counted_and_timed_by_route_template(client):
    before = value("http_requests_total", method="GET", route="/healthz/live", status="200")
    timed_before = value("http_request_duration_seconds_count", method="GET", route="/healthz/live")

    for _ in range(3):
        assert (await client.get("/healthz/live")).status_code == 200

    assert value("http_requests_total", method="GET", route="/healthz/live", status="200") == before + 3
    assert (
        value("http_request_duration_seconds_count", method="GET", route="/healthz/live") == timed_before + 3
    )
    assert value("http_requests_in_progress") == 0


async def test_a_wrong_method_is_counted_under_the_route_and_odd_methods_under_one_label(client):
    before = value("http_requests_total", method="POST", route="/healthz/live", status="405")
    other_before = value("http_requests_total", method="_OTHER", route="/healthz/live", status="405")

    assert (await client.post("/healthz/live")).status_code == 405
    assert (await client.request("BREW", "/healthz/live")).status_code == 405

    assert value("http_requests_total", method="POST", route="/healthz/live", status="405") == before + 1
    assert (
        value("http_requests_total", method="_OTHER", route="/healthz/live", status="405") == other_before + 1
    )


async def test_a_thousand_random_unknown_paths_add_no_series(client):
    assert (await client.get(f"/{uuid.uuid4().hex}")).status_code == 404
    assert (await client.request("BREW", f"/{uuid.uuid4().hex}")).status_code == 404
    counted = value("http_requests_total", method="GET", route=UNMATCHED_ROUTE, status="404")
    series = series_count()

    for number in range(1000):
        path = f"/{uuid.uuid4().hex}/{number}" + ("/x" * (number % 5))
        method = "GET" if number % 2 else f"M{number}"
        assert (await client.request(method, path)).status_code == 404

    assert series_count() == series
    assert value("http_requests_total", method="GET", route=UNMATCHED_ROUTE, status="404") == counted + 500


async def test_route_label_is_the_full_template_of_an_included_router():
    # FastAPI 0.16x leaves the router-local template in scope["route"]; the label
    # must carry every prefix (a FastAPI upgrade that moves the full template fails here).
    inner = APIRouter()

    @inner.get("/organizations/{organization_id}")
    async def organization(organization_id: int) -> dict[str, int]:
        return {"id": organization_id}

    outer = APIRouter()
    outer.include_router(inner, prefix="/v1")
    app = FastAPI()
    app.include_router(outer, prefix="/api")
    app.add_middleware(MetricsMiddleware)
    route = "/api/v1/organizations/{organization_id}"
    before = value("http_requests_total", method="GET", route=route, status="200")
    invalid_before = value("http_requests_total", method="GET", route=route, status="422")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/api/v1/organizations/7")).status_code == 200
        assert (await client.get("/api/v1/organizations/8")).status_code == 200
        assert (await client.get("/api/v1/organizations/not-a-number")).status_code == 422

    assert value("http_requests_total", method="GET", route=route, status="200") == before + 2
    assert value("http_requests_total", method="GET", route=route, status="422") == invalid_before + 1


async def test_an_exception_after_the_answer_started_counts_as_500():
    async def failing_app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("boom")

    middleware = MetricsMiddleware(failing_app)
    before = value("http_requests_total", method="GET", route=UNMATCHED_ROUTE, status="500")
    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": []}
    with pytest.raises(RuntimeError):
        await middleware(scope, None, send)

    assert value("http_requests_total", method="GET", route=UNMATCHED_ROUTE, status="500") == before + 1


async def test_readiness_checks_report_their_last_outcome_and_latency(client):
    assert (await client.get("/healthz/ready")).status_code == 200

    for check in ("database", "migrations", "redis"):
        assert value("readiness_check_up", check=check) == 1
        assert 0 < value("readiness_check_latency_seconds", check=check) < 1


async def test_pool_gauges_read_the_pool_when_scraped(make_settings):
    app = create_app(make_settings(DATABASE_POOL_SIZE="3", DATABASE_MAX_OVERFLOW="2"))
    async with app.router.lifespan_context(app) as state:
        engine = state["engine"]
        assert value("db_pool_connections_limit") == 5
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            assert value("db_pool_connections", state="in_use") == 1
            assert value("db_pool_connections", state="idle") == 0
        assert value("db_pool_connections", state="in_use") == 0
        assert value("db_pool_connections", state="idle") == 1
    assert value("db_pool_connections_limit") == 0


def test_logins_are_counted_by_outcome_from_zero():
    before = {outcome: value("logins_total", outcome=outcome) for outcome in LOGIN_OUTCOMES}
    assert all(("logins_total", frozenset({("outcome", outcome)})) in samples() for outcome in LOGIN_OUTCOMES)

    record_login("success")
    record_login("throttled")
    record_login("throttled")

    assert value("logins_total", outcome="success") == before["success"] + 1
    assert value("logins_total", outcome="failure") == before["failure"]
    assert value("logins_total", outcome="throttled") == before["throttled"] + 2


WORKER_THAT_DIES = textwrap.dedent(
    """
    import os, sys
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
    from prometheus_client import Counter, Gauge
    Gauge("busy", "x", multiprocess_mode="livesum").set(5)
    Counter("done", "x").inc(3)
    os._exit(0)  # killed: no shutdown, its files stay behind
    """
)


def test_the_listener_forgets_the_live_gauges_of_a_dead_worker_but_keeps_its_counts(tmp_path: Path):
    subprocess.run([sys.executable, "-c", WORKER_THAT_DIES, str(tmp_path)], check=True)
    assert len(list(tmp_path.glob("gauge_livesum_*.db"))) == 1
    registry = CollectorRegistry()
    registry.register(LiveWorkersCollector(tmp_path))

    scraped = samples(registry)

    assert ("busy", frozenset()) not in scraped
    assert scraped[("done_total", frozenset())] == 3
    assert list(tmp_path.glob("gauge_livesum_*.db")) == []


async def test_the_service_port_does_not_serve_metrics(client):
    assert (await client.get("/metrics")).status_code == 404
