"""Through PgBouncer in transaction pooling mode: DATABASE_PGBOUNCER makes it work (docs/contract.md §11).

A private PgBouncer 1.18 (no protocol-level prepared statements) sits in
front of the private PostgreSQL. Concurrent ``erp-db upgrade`` runs, then
two ``erp-api serve`` replicas under concurrent load on a database route
(``/api/v1/users/me``) and on readiness, all through it. With the setting
on: zero errors, and PostgreSQL never sees more than PgBouncer's pool. With
it off, the same run shows the prepared-statement errors, so this test can
fail.
"""

from __future__ import annotations

import asyncio
import collections
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from erp_api import ApiSettings
from erp_api_testing import ConnectionSampler, PgBouncerServer, PostgresServer
from erp_api_testing.identity import bearer_headers, insert_user
from erp_core.testing import settings_from_env
from erp_db import create_engine, current_revisions, shipped_head, upgrade
from erp_db.testing import temporary_database

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(300)]

ERP_DB = str(Path(sys.executable).parent / "erp-db")
POOL = 4  # PgBouncer's server connections to the database
UPGRADES = 3
REPLICAS = 2
CLIENTS = 16
LOAD_S = 6.0
JWT_SECRET_KEY = "pgbouncer-test-jwt-secret-key-of-32-bytes-or-more"
PREPARED_STATEMENT_ERROR = "prepared statement"
# Without DATABASE_PGBOUNCER a run can wait forever: the session-level migration
# lock stays behind on the PgBouncer server connection that took it.
UPGRADES_WITHIN_S = 60.0


@pytest.fixture
def pgbouncer(postgres_server: PostgresServer) -> Iterator[PgBouncerServer]:
    with PgBouncerServer(postgres_server.host, postgres_server.port, pool_size=POOL) as bouncer:
        yield bouncer


@pytest_asyncio.fixture(loop_scope="session")
async def empty_database(postgres_server: PostgresServer) -> AsyncIterator[str]:
    async with temporary_database(postgres_server.admin_url, migrate=False) as url:
        yield url


def run_upgrades(url: str, pgbouncer: str, tmp_path: Path) -> list[subprocess.CompletedProcess[str]]:
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": url,
        "DATABASE_PGBOUNCER": pgbouncer,
        "LOG_LEVEL": "WARNING",
    }
    runs = [
        subprocess.Popen(
            [ERP_DB, "upgrade"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(UPGRADES)
    ]
    deadline = time.monotonic() + UPGRADES_WITHIN_S
    finished = []
    for run in runs:
        try:
            stdout, stderr = run.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            run.kill()
            stdout, stderr = run.communicate()
            stderr += f"did not finish within {UPGRADES_WITHIN_S:g} s"
        finished.append(subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr))
    return finished


async def end_sessions(admin_url: str, database: str) -> None:
    """Disconnect every session of ``database``, and with them any advisory lock left behind."""
    engine = create_async_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :database"),
                {"database": database},
            )
    finally:
        await engine.dispose()


async def drive(base_urls: list[str], headers: dict[str, str]) -> tuple[collections.Counter[str], list[str]]:
    """Each client alternates a database route and readiness, round robin over the replicas.

    Returns the count of each ``path status`` and the bodies of the failed answers.
    """
    outcomes: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    deadline = time.monotonic() + LOAD_S

    async def client(n: int, http: httpx.AsyncClient) -> None:
        sequence = n
        while time.monotonic() < deadline:
            base = base_urls[sequence % len(base_urls)]
            for path in ("/api/v1/users/me", "/healthz/ready"):
                try:
                    response = await http.get(base + path, headers=headers)
                    outcomes[f"{path} {response.status_code}"] += 1
                    if response.status_code != 200:
                        failures.append(response.text)
                except httpx.HTTPError as exc:
                    outcomes[f"{path} {type(exc).__name__}"] += 1
            sequence += 1

    async with httpx.AsyncClient(timeout=10) as http:
        await asyncio.gather(*(client(n, http) for n in range(CLIENTS)))
    return outcomes, failures


@pytest.mark.parametrize("setting", ["true", "false"])
async def test_transaction_pooling_needs_database_pgbouncer(
    setting: str,
    pgbouncer: PgBouncerServer,
    postgres_server: PostgresServer,
    empty_database: str,
    start_service,
    tmp_path: Path,
    app_name: str,
    record_property,
) -> None:
    through_bouncer = pgbouncer.url_for(empty_database)
    database = empty_database.rsplit("/", 1)[-1]
    env = {"DATABASE_URL": through_bouncer, "DATABASE_PGBOUNCER": setting, "JWT_SECRET_KEY": JWT_SECRET_KEY}

    async with ConnectionSampler(postgres_server.admin_url, database=database) as connections:
        upgrades = await asyncio.to_thread(run_upgrades, through_bouncer, setting, tmp_path)
        if setting == "false":  # whatever the upgrades did (or left locked), serve a migrated database
            await end_sessions(postgres_server.admin_url, database)
            await asyncio.to_thread(upgrade, empty_database)
        direct = create_engine(empty_database, application_name="pgbouncer-test")
        try:
            user = await insert_user(direct)
        finally:
            await direct.dispose()
        services = [start_service(**env) for _ in range(REPLICAS)]
        for service in services:
            await service.wait_until("/healthz/live", 200)
        settings = settings_from_env(ApiSettings, {"ENVIRONMENT": "test", "APP_NAME": app_name, **env})
        headers = bearer_headers(settings, user.id)
        outcomes, failures = await drive([service.base_url for service in services], headers)

    failed_upgrades = [run.stderr.strip() for run in upgrades if run.returncode != 0]
    errors = {outcome: count for outcome, count in outcomes.items() if not outcome.endswith(" 200")}
    said = [text for text in [*failures, *failed_upgrades] if PREPARED_STATEMENT_ERROR in text]
    record_property(
        "resilience",
        f"DATABASE_PGBOUNCER={setting}: {sum(outcomes.values())} requests, errors {errors or 'none'}, "
        f"{len(failed_upgrades)}/{UPGRADES} upgrades failed, {len(said)} naming a prepared statement, "
        f"PostgreSQL peak {connections.peak} connections (pool {POOL})",
    )
    assert connections.peak <= POOL
    if setting == "true":
        assert failed_upgrades == []
        assert errors == {}, failures[:3]
        assert await asyncio.to_thread(current_revisions, empty_database) == (shipped_head(),)
    else:
        assert said, "without DATABASE_PGBOUNCER the same run should have met prepared-statement errors"
