"""The resilience group: the service as a real process over private PostgreSQL and Redis servers.

Each server is this session's own, started from the machine's binaries (see
:mod:`erp_testing.servers`), so the tests can stop,
restart and hang them without disturbing anything else. The service runs as
``erp-api serve``, exactly as in its container. Every test here is marked
``resilience``; ``nox -s resilience`` (part of the default ``nox`` run)
selects them, the per-package test sessions leave them out. The
rolling-restart drill (``test_rolling_restart.py``) shares these servers but
is marked ``drill`` instead: ``nox -s drill`` runs it.

Each test may record a one-line account of what it observed (``record_property
("resilience", ...)``); they are printed at the end of the run, so the
counted-but-tolerated events (a refused connection during shutdown) are
reported, not only asserted on.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import make_url

from erp_api_testing import PostgresServer, RedisServer, ServiceProcess
from erp_db.testing import temporary_database

HEALTH_CHECK_TIMEOUT_S = 1.0


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def database_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A database migrated to head on the private server, shared by the group."""
    async with temporary_database(postgres_server.admin_url) as url:
        yield url


@pytest.fixture
def app_name() -> str:
    """The service's APP_NAME, hence its application_name in pg_stat_activity: unique per test."""
    return f"erp-api-resilience-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def start_service(
    tmp_path: Path, database_url: str, redis_server: RedisServer, app_name: str
) -> Iterator[Callable[..., ServiceProcess]]:
    """Start ``erp-api serve`` on the private servers, with environment ``overrides``; stopped at the end."""
    started: list[ServiceProcess] = []

    def start(**overrides: str) -> ServiceProcess:
        env = {
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "INFO",
            "APP_NAME": app_name,
            "DATABASE_URL": database_url,
            "APP_CACHE_REDIS_URL": redis_server.url,
            "HEALTH_CHECK_TIMEOUT_S": str(HEALTH_CHECK_TIMEOUT_S),
            **overrides,
        }
        service = ServiceProcess(env, tmp_path, name=f"service-{len(started)}").start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


def with_port(url: str, port: int) -> str:
    """``url`` pointing at ``port`` of 127.0.0.1 (a proxy in front of the server), password kept."""
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = [
        f"{report.nodeid.split('::')[-1]}: {value}"
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", [])
        if name == "resilience"
    ]
    if lines:
        terminalreporter.write_sep("-", "resilience: what the tests observed")
        for line in lines:
            terminalreporter.write_line(line)
