"""``erp-api serve``'s listener on METRICS_PORT: every worker's counts, exactly (docs/contract.md §12)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from erp_api_testing import ServiceProcess
from erp_core.testing import free_port

LIVE = {"method": "GET", "route": "/healthz/live", "status": "200"}


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    exposition = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def live_count(port: int) -> float:
    return scrape(port).get(("http_requests_total", frozenset(LIVE.items())), 0.0)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_listener_counts_every_request_of_every_worker(erp_db_url, redis_url, tmp_path, workers):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": erp_db_url,
        "APP_CACHE_REDIS_URL": redis_url,
        "TMPDIR": str(scratch),  # where serve makes the per-start multiprocess directory
    }
    requests = 200
    with ServiceProcess(env, tmp_path, workers=workers) as service:
        before = live_count(service.metrics_port)
        for _ in range(requests):  # a new connection each: the kernel spreads them over the workers
            assert httpx.get(f"{service.base_url}/healthz/live", timeout=5).status_code == 200
        # A worker counts a request once its answer is sent: allow the last ones a moment.
        deadline = time.monotonic() + 5
        while live_count(service.metrics_port) < before + requests and time.monotonic() < deadline:
            time.sleep(0.05)
        counted = live_count(service.metrics_port) - before
        on_service_port = httpx.get(f"{service.base_url}/metrics", timeout=5).status_code
        per_worker_files = list(scratch.glob("erp-api-metrics-*/counter_*.db"))
        scraped = scrape(service.metrics_port)
        in_progress = scraped[("http_requests_in_progress", frozenset())]
        pool_limit = scraped[("db_pool_connections_limit", frozenset())]

    assert counted == requests
    assert on_service_port == 404
    assert in_progress == 0
    assert pool_limit == workers * (5 + 5), "every worker's pool, DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW"
    if workers > 1:
        assert len(per_worker_files) == workers, "every worker served some of the requests"
    assert list(scratch.iterdir()) == [], "the multiprocess directory is removed at exit"


def test_metrics_port_0_starts_no_listener_and_a_busy_port_stops_the_start(erp_db_url, redis_url, tmp_path):
    env = {"ENVIRONMENT": "test", "DATABASE_URL": erp_db_url, "APP_CACHE_REDIS_URL": redis_url}
    with ServiceProcess({**env, "METRICS_PORT": "0"}, tmp_path, name="off"):
        pass  # it serves; nothing else to bind

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = ServiceProcess({**env, "METRICS_PORT": str(taken.getsockname()[1])}, tmp_path, name="busy")
        status = busy.start().process.wait(30)
    assert status == 2
    assert "METRICS_PORT" in busy.stderr_text()


def test_metrics_port_must_differ_from_the_service_port(erp_db_url, tmp_path: Path):
    port = free_port()
    service = ServiceProcess({"DATABASE_URL": erp_db_url, "METRICS_PORT": str(port)}, tmp_path)
    finished = subprocess.run(
        [*service.argv[:-1], str(port)],
        env=service.env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert finished.returncode == 2
    assert "METRICS_PORT" in finished.stderr
