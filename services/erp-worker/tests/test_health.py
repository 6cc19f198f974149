"""The worker's probes over real HTTP: live touches nothing, ready reports each check."""

from __future__ import annotations

import json

from erp_core import ProbeResult
from erp_worker import HealthServer

from .conftest import free_port


async def request(port: int, line: str) -> tuple[int, dict[str, object]]:
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{line}\r\nhost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body) if body else {}


async def test_live_is_200_and_ready_is_503_when_a_check_fails() -> None:
    async def fine() -> ProbeResult:
        return ProbeResult(status="ok", latency_ms=1.0)

    async def broken() -> ProbeResult:
        return ProbeResult(status="fail", latency_ms=2.0, error="refused")

    server = HealthServer({"database": fine, "queue": broken})
    port = free_port()
    await server.start("127.0.0.1", port)
    try:
        assert await request(port, "GET /healthz/live HTTP/1.1") == (200, {"status": "ok"})
        status, body = await request(port, "GET /healthz/ready HTTP/1.1")
        assert status == 503
        assert body["checks"] == {
            "database": {"status": "ok", "latency_ms": 1.0},
            "queue": {"status": "fail", "latency_ms": 2.0, "error": "refused"},
        }
        assert (await request(port, "GET /metrics HTTP/1.1"))[0] == 404
        assert (await request(port, "POST /healthz/live HTTP/1.1"))[0] == 405
    finally:
        await server.close()


async def test_ready_is_200_with_the_real_database_and_queue(start_worker, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    from .conftest import eventually

    metrics = await start_worker(None, worker_health_port=(port := free_port()))
    assert metrics is not None

    async def answers() -> bool:
        try:
            return (await request(port, "GET /healthz/ready HTTP/1.1"))[0] == 200
        except OSError:
            return False

    await eventually(answers, what="ready answered 200")
    status, body = await request(port, "GET /healthz/ready HTTP/1.1")
    assert status == 200
    assert set(body["checks"]) == {"database", "migrations", "queue"}  # type: ignore[call-overload]
