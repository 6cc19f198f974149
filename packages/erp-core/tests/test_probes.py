import asyncio
import time

from erp_core import ProbeFailed, ProbeResult, run_probe


async def test_passing_check_is_ok_with_latency():
    async def check() -> None:
        await asyncio.sleep(0.01)

    result = await run_probe(check, timeout=1)

    assert result.status == "ok"
    assert result.ok
    assert result.latency_ms >= 10
    assert result.as_dict() == {"status": "ok", "latency_ms": result.latency_ms}


async def test_raising_check_fails_with_a_short_single_line_reason():
    async def check() -> None:
        raise ConnectionRefusedError("Connect call failed ('127.0.0.1', 1)\nsecond line")

    result = await run_probe(check, timeout=1)

    assert result.status == "fail"
    assert result.error == "ConnectionRefusedError: Connect call failed ('127.0.0.1', 1)"
    assert result.as_dict()["error"] == result.error


async def test_probe_failed_reason_is_reported_verbatim():
    async def check() -> None:
        raise ProbeFailed("not migrated")

    assert (await run_probe(check, timeout=1)).error == "not migrated"


async def test_hanging_check_fails_within_its_timeout_even_if_it_resists_cancellation():
    async def stubborn() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(1)  # a driver winding down slowly
            raise

    started = time.perf_counter()
    result = await run_probe(stubborn, timeout=0.1)
    elapsed = time.perf_counter() - started

    assert result == ProbeResult("fail", result.latency_ms, "timed out after 0.1 s")
    assert elapsed < 0.3
    await asyncio.sleep(1.1)  # let the abandoned task finish inside this test


async def test_long_error_messages_are_truncated():
    async def check() -> None:
        raise ValueError("x" * 1000)

    result = await run_probe(check, timeout=1)

    assert result.error is not None
    assert len(result.error) == 200


async def test_a_probe_against_an_unresponsive_server_times_out():
    from erp_core.testing import unresponsive_server

    async def connect_and_read(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await reader.read(1)
        finally:
            writer.close()

    async with unresponsive_server() as port:
        started = time.perf_counter()
        result = await run_probe(lambda: connect_and_read(port), timeout=0.2)

    assert result.error == "timed out after 0.2 s"
    assert time.perf_counter() - started < 0.4
