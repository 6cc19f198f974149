"""The service's Prometheus series (docs/contract.md §12), and what keeps them current.

The metric objects live at module level in prometheus-client's default
registry, as the library intends (like a module's logger): creating one
records nothing and opens nothing. Which storage they use is decided when
``prometheus_client`` is first imported: in-process values, or, when
``PROMETHEUS_MULTIPROC_DIR`` is set (``erp-api serve --workers N`` sets it before
its workers start, see :mod:`erp_api.metrics_listener`), one memory-mapped
file per worker that the supervisor's listener adds up.

Series and who records them:

- ``http_requests_total``, ``http_request_duration_seconds``,
  ``http_requests_in_progress``: :class:`erp_api.middleware.metrics.MetricsMiddleware`.
- ``db_pool_connections{state}``, ``db_pool_connections_limit``: read from the
  engine's pool by :class:`WorkerMetrics`; at scrape time in a single process,
  once a second per worker in multiprocess mode (a scrape there is served by
  the supervisor, which cannot reach a worker's pool).
- ``readiness_check_up{check}``, ``readiness_check_latency_seconds{check}``:
  :func:`record_readiness`, from each readiness check's outcome.
- ``logins_total{outcome}``: :func:`record_login`, from the login route.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from typing import Literal, Protocol, cast

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client import multiprocess as prometheus_multiprocess

from erp_core import ProbeResult

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED_ROUTE = "<unmatched>"  # the one `route` label of every path no route matched
POOL_REFRESH_S = 1.0  # multiprocess mode: how stale a pool gauge may be

LoginOutcome = Literal["success", "failure", "throttled"]
LOGIN_OUTCOMES: tuple[LoginOutcome, ...] = ("success", "failure", "throttled")
POOL_STATES = ("in_use", "idle")

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from the request reaching the application to the end of its answer, by method and route template.",
    ["method", "route"],
)
HTTP_REQUESTS_IN_PROGRESS = Gauge(
    "http_requests_in_progress", "HTTP requests being served now.", multiprocess_mode="livesum"
)
DB_POOL_CONNECTIONS = Gauge(
    "db_pool_connections",
    "Database connections of the pool: in_use (checked out) or idle (pooled, open).",
    ["state"],
    multiprocess_mode="livesum",
)
DB_POOL_CONNECTIONS_LIMIT = Gauge(
    "db_pool_connections_limit",
    "Most connections the pool may hold (DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW), summed over workers.",
    multiprocess_mode="livesum",
)
READINESS_CHECK_UP = Gauge(
    "readiness_check_up",
    "Last outcome of each readiness check: 1 passed, 0 failed.",
    ["check"],
    multiprocess_mode="livemostrecent",
)
READINESS_CHECK_LATENCY = Gauge(
    "readiness_check_latency_seconds",
    "Latency of each readiness check's last run.",
    ["check"],
    multiprocess_mode="livemostrecent",
)
LOGINS = Counter("logins_total", "Login attempts by outcome: success, failure, throttled.", ["outcome"])

# Every outcome exists from the start, at 0: a rate over a series that appears
# only with its first event misses that event.
for _outcome in LOGIN_OUTCOMES:
    LOGINS.labels(_outcome)


def multiprocess_mode() -> bool:
    """Whether this process writes its values to files that a supervisor adds up."""
    return MULTIPROCESS_DIR_VARIABLE in os.environ


def record_login(outcome: LoginOutcome) -> None:
    """Count one login attempt; call once per attempt with how it ended."""
    LOGINS.labels(outcome).inc()


def record_readiness(results: Mapping[str, ProbeResult]) -> None:
    """Keep each readiness check's last outcome and latency."""
    for check, result in results.items():
        READINESS_CHECK_UP.labels(check).set(1.0 if result.ok else 0.0)
        READINESS_CHECK_LATENCY.labels(check).set(result.latency_ms / 1000)


class CountingPool(Protocol):
    """What the gauges read of a pool (SQLAlchemy's ``QueuePool`` and its async adaptation)."""

    def checkedout(self) -> int: ...
    def checkedin(self) -> int: ...


class WorkerMetrics:
    """What one serving process keeps up for the lifespan of its application.

    In a single process the pool gauges read the pool when scraped, so a scrape
    is exact and requests pay nothing. In multiprocess mode a task copies the
    pool's counts into the worker's file every :data:`POOL_REFRESH_S`, and
    :meth:`stop` removes the worker's live gauges (``mark_process_dead``) so a
    worker that exits stops counting; the listener also drops the files of a
    worker that died without stopping (see :mod:`erp_api.metrics_listener`).
    """

    def __init__(self, pool: object, *, pool_limit: int) -> None:
        # A pool that keeps no connections (NullPool) has nothing to show.
        self._pool: CountingPool | None = cast(CountingPool, pool) if _counts(pool) else None
        self._pool_limit = pool_limit
        self._refresher: asyncio.Task[None] | None = None

    def start(self) -> WorkerMetrics:
        pool = self._pool
        if pool is None:
            return self
        if multiprocess_mode():
            self._refresh()
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())
        else:
            DB_POOL_CONNECTIONS.labels("in_use").set_function(lambda: pool.checkedout())
            DB_POOL_CONNECTIONS.labels("idle").set_function(lambda: pool.checkedin())
            DB_POOL_CONNECTIONS_LIMIT.set_function(lambda: self._pool_limit)
        return self

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        if multiprocess_mode():
            prometheus_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
        elif self._pool is not None:
            for state in POOL_STATES:
                DB_POOL_CONNECTIONS.labels(state).set_function(lambda: 0)
            DB_POOL_CONNECTIONS_LIMIT.set_function(lambda: 0)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(POOL_REFRESH_S)
            self._refresh()

    def _refresh(self) -> None:
        assert self._pool is not None
        DB_POOL_CONNECTIONS.labels("in_use").set(self._pool.checkedout())
        DB_POOL_CONNECTIONS.labels("idle").set(self._pool.checkedin())
        DB_POOL_CONNECTIONS_LIMIT.set(self._pool_limit)


def _counts(pool: object) -> bool:
    return callable(getattr(pool, "checkedout", None)) and callable(getattr(pool, "checkedin", None))
