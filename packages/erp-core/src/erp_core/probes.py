"""Health probes: the result type and a runner that bounds any probe in time.

A readiness endpoint must answer within its budget even when a dependency
hangs, and must never fail because a probe raised. :func:`run_probe` gives
both guarantees to any probe coroutine, so the database and cache probes only
say what they check.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from erp_core.errors import ProbeFailed

ProbeStatus = Literal["ok", "fail"]

_MAX_ERROR_LENGTH = 200


@dataclasses.dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of one dependency check, as ``/healthz/ready`` reports it."""

    status: ProbeStatus
    latency_ms: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of docs/contract.md §4: ``error`` only on failure."""
        body: dict[str, Any] = {"status": self.status, "latency_ms": self.latency_ms}
        if self.error is not None:
            body["error"] = self.error
        return body


def describe_error(exc: BaseException) -> str:
    """A short, single-line reason: the exception type and the first line of its message.

    Callers must not pass exceptions whose message may hold a secret; the
    drivers' connection errors name host and port, never a password.
    """
    if isinstance(exc, ProbeFailed):
        text = str(exc)
    else:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        text = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
    return text[:_MAX_ERROR_LENGTH]


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def run_probe(check: Callable[[], Awaitable[object]], *, timeout: float) -> ProbeResult:
    """Run ``check`` and report ok, its error, or a timeout; never raises, never overruns.

    The check runs as its own task and the runner stops waiting when the
    timeout expires: cancelling is asked of the task, but not awaited, because
    a driver may take its time to wind down a cancelled network call (asyncpg
    sends a cancel request) and the caller's budget must hold regardless.
    """
    started = time.perf_counter()
    task = asyncio.ensure_future(check())
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_consume_outcome)
        return ProbeResult("fail", _elapsed_ms(started), f"timed out after {timeout:g} s")
    exc = task.exception()
    if exc is not None:
        return ProbeResult("fail", _elapsed_ms(started), describe_error(exc))
    return ProbeResult("ok", _elapsed_ms(started))


def _consume_outcome(task: asyncio.Future[object]) -> None:
    # Retrieve the abandoned task's outcome so asyncio does not log
    # "exception was never retrieved" for a probe we already reported.
    if not task.cancelled():
        task.exception()
