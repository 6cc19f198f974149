import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from erp_api import create_app
from erp_api_testing import MakeSettings, serve_in_process
from erp_core.testing import free_port, unresponsive_server
from erp_db import shipped_head, upgrade
from erp_db.testing import admin_url_from_env, temporary_database, upgrade_as_newer_release


@pytest.fixture
async def unmigrated_url() -> AsyncIterator[str]:
    async with temporary_database(admin_url_from_env(), migrate=False) as url:
        yield url


async def test_live_answers_ok_on_get_and_head(client):
    get = await client.get("/healthz/live")
    head = await client.head("/healthz/live")

    assert get.status_code == 200
    assert get.json() == {"status": "ok"}
    assert get.headers["content-type"] == "application/json"
    assert head.status_code == 200


async def test_ready_is_200_with_every_check_ok(client):
    response = await client.get("/healthz/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "migrations", "redis"}
    for check in body["checks"].values():
        assert check["status"] == "ok"
        assert isinstance(check["latency_ms"], float)
        assert "error" not in check
    assert (await client.head("/healthz/ready")).status_code == 200


async def test_ready_is_503_when_redis_is_down_and_live_stays_200(make_settings: MakeSettings):
    settings = make_settings(APP_CACHE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    async with serve_in_process(create_app(settings)) as client:
        ready = await client.get("/healthz/ready")
        live = await client.get("/healthz/live")

    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/json"
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"]["status"] == "fail"
    assert body["checks"]["redis"]["error"]
    assert body["checks"]["database"]["status"] == "ok"
    assert live.status_code == 200


async def test_ready_is_503_when_the_database_is_down(make_settings: MakeSettings):
    url = f"postgresql+asyncpg://erp:very-secret-pw@127.0.0.1:{free_port()}/erp"
    async with serve_in_process(create_app(make_settings(DATABASE_URL=url))) as client:
        ready = await client.get("/healthz/ready")
        live = await client.get("/healthz/live")

    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["database"]["status"] == "fail"
    assert checks["migrations"]["status"] == "fail"
    assert checks["redis"]["status"] == "ok"
    assert "very-secret-pw" not in ready.text
    assert live.status_code == 200


async def test_ready_answers_within_the_timeout_when_a_dependency_hangs(make_settings: MakeSettings):
    async with unresponsive_server() as port:
        redis_url = f"redis://127.0.0.1:{port}/0"
        settings = make_settings(APP_CACHE_REDIS_URL=redis_url, HEALTH_CHECK_TIMEOUT_S="0.5")
        async with serve_in_process(create_app(settings)) as client:
            started = time.perf_counter()
            ready_task = asyncio.create_task(client.get("/healthz/ready"))
            await asyncio.sleep(0.05)
            live_started = time.perf_counter()
            live = await client.get("/healthz/live")
            live_elapsed = time.perf_counter() - live_started
            ready = await ready_task
            elapsed = time.perf_counter() - started

    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"]["status"] == "fail"
    assert elapsed < 0.5 + 0.5
    assert live.status_code == 200
    assert live_elapsed < 0.1


async def test_ready_reports_unmigrated_database_and_recovers_without_restart(
    make_settings: MakeSettings, unmigrated_url: str
):
    async with serve_in_process(create_app(make_settings(DATABASE_URL=unmigrated_url))) as client:
        before = await client.get("/healthz/ready")
        await asyncio.to_thread(upgrade, unmigrated_url)
        after = await client.get("/healthz/ready")

    assert before.status_code == 503
    assert before.json()["checks"]["database"]["status"] == "ok"
    assert before.json()["checks"]["migrations"]["status"] == "fail"
    assert after.status_code == 200


async def _behind(url: str) -> None:
    await asyncio.to_thread(upgrade, url, f"{shipped_head()}-1")


async def _ahead(url: str) -> None:
    await asyncio.to_thread(upgrade_as_newer_release, url)


async def _foreign(url: str) -> None:
    await asyncio.to_thread(upgrade, url)
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await connection.execute("UPDATE alembic_version SET version_num = 'f0f0f0f0f0f0'")
    finally:
        await connection.close()


@pytest.mark.parametrize(
    ("move", "status", "error"),
    [(_ahead, 200, None), (_behind, 503, "behind"), (_foreign, 503, "unknown")],
    ids=["ahead", "behind", "foreign"],
)
async def test_ready_passes_ahead_of_the_shipped_head_and_fails_behind_or_unknown(
    make_settings: MakeSettings, unmigrated_url: str, move, status: int, error: str | None
):
    # docs/contract.md §4: a newer release migrates first; this (older) release stays ready.
    await move(unmigrated_url)
    async with serve_in_process(create_app(make_settings(DATABASE_URL=unmigrated_url))) as client:
        ready = await client.get("/healthz/ready")

    assert ready.status_code == status
    migrations = ready.json()["checks"]["migrations"]
    if error is None:
        assert migrations == {"status": "ok", "latency_ms": migrations["latency_ms"]}
    else:
        assert migrations["status"] == "fail"
        assert migrations["error"].startswith(f"{error}: ")
