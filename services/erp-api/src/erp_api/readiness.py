"""Readiness: the probes of every dependency, run concurrently and shared between requests.

``/healthz/ready`` is polled by every load balancer and orchestrator, often
many times a second per replica. Each dependency's check is *coalesced*:
requests that arrive while a check is in flight do not start their own; they
wait for the next check, which starts as soon as the current one ends and
serves all of them. A request is therefore never answered by a check that
started before it arrived (so no answer reports a state older than its
request), yet the dependencies see at most one check at a time.

Each request waits at most ``timeout`` for its checks; a check that has not
reported by then counts as failed for that request, so the answer comes
within the budget even when a dependency hangs.

Hand-written: no library offers single-flight with the "started after
arrival" rule (aiocache's and asyncio's primitives reuse in-flight results).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Generic, TypeVar

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from erp_api.metrics import record_readiness
from erp_cache import probe_redis
from erp_core import ProbeResult
from erp_db import probe_database_and_migrations

T = TypeVar("T")


class CoalescedCheck(Generic[T]):
    """Runs ``check`` for whoever asks, at most one at a time, never reusing an older run."""

    def __init__(self, check: Callable[[], Awaitable[T]]) -> None:
        self._check = check
        self._in_flight: asyncio.Task[T] | None = None
        self._next: asyncio.Future[T] | None = None

    async def __call__(self, *, timeout: float) -> T | None:
        """The outcome of a run that started after this call, or ``None`` after ``timeout``."""
        if self._in_flight is None:
            waiting: asyncio.Future[T] = self._launch()
        else:
            if self._next is None:
                self._next = asyncio.get_running_loop().create_future()
            waiting = self._next
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(waiting)
        except TimeoutError:
            return None

    def _launch(self) -> asyncio.Task[T]:
        task = asyncio.ensure_future(self._check())
        self._in_flight = task
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[T]) -> None:
        self._in_flight = None
        waiters, self._next = self._next, None
        if waiters is not None:
            self._launch().add_done_callback(lambda run: _settle(waiters, run))
        elif not task.cancelled():
            task.exception()  # retrieved: nobody else may be waiting


def _settle(future: asyncio.Future[T], run: asyncio.Task[T]) -> None:
    if future.done():
        return
    if run.cancelled():
        future.cancel()
    elif (exc := run.exception()) is not None:
        future.set_exception(exc)
    else:
        future.set_result(run.result())


class Readiness:
    """The ``database``, ``migrations`` and ``redis`` checks of one service instance."""

    def __init__(self, engine: AsyncEngine, redis: Redis, *, timeout: float) -> None:
        self.timeout = timeout
        # One round trip answers both "is the database there" and "is it at head".
        self._database = CoalescedCheck(lambda: probe_database_and_migrations(engine, timeout=timeout))
        self._redis = CoalescedCheck(lambda: probe_redis(redis, timeout=timeout))

    async def check(self) -> Mapping[str, ProbeResult]:
        database, redis = await asyncio.gather(
            self._database(timeout=self.timeout), self._redis(timeout=self.timeout)
        )
        timed_out = ProbeResult("fail", round(self.timeout * 1000, 2), f"timed out after {self.timeout:g} s")
        database_result, migrations_result = database if database is not None else (timed_out, timed_out)
        results = {
            "database": database_result,
            "migrations": migrations_result,
            "redis": redis if redis is not None else timed_out,
        }
        record_readiness(results)
        return results
