"""Counts and times every request by route template for Prometheus (docs/contract.md §12)."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from erp_api.framework_internals import included_route_template
from erp_api.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS, HTTP_REQUESTS_IN_PROGRESS, UNMATCHED_ROUTE

# Any other method a client sends (HTTP allows any token) is counted as one value,
# as OpenTelemetry's semantic conventions do: a client cannot add series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
OTHER_METHOD = "_OTHER"


def route_template(scope: Scope) -> str:
    """The template of the route that served ``scope`` (read after routing), or :data:`UNMATCHED_ROUTE`.

    Starlette's router leaves the matched route in ``scope["route"]``, a partial
    match (405) included. FastAPI 0.16x dispatches an included router through
    an inner router: ``scope["route"]`` is then the route as written in its
    ``APIRouter`` (``/organizations/{organization_id}``), without the prefixes;
    FastAPI keeps the full template (``/api/v1/organizations/{organization_id}``)
    beside it in ``scope["fastapi"]``, a private key read through
    :func:`erp_api.framework_internals.included_route_template`.
    """
    included = included_route_template(scope)
    if included:
        return included
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else UNMATCHED_ROUTE


class MetricsMiddleware:
    """Outermost layer: its duration covers every other middleware, and it sees the final status.

    An exception that escapes (only possible once the answer has started: the
    catch-all inside turns the others into 500 answers) counts as a 500. The
    labelled series are looked up once per label set and kept: ``labels()``
    costs more than the increment itself, on every request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        status_code = 500

        async def send_observed(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        HTTP_REQUESTS_IN_PROGRESS.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_observed)
        except Exception:
            status_code = 500  # the server cuts the answer short: an error, whatever had started
            raise
        finally:
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS_IN_PROGRESS.dec()
            self.record(scope, status_code, elapsed)

    def record(self, scope: Scope, status_code: int, elapsed_s: float) -> None:
        method = scope["method"]
        if method not in KNOWN_METHODS:
            method = OTHER_METHOD
        route = route_template(scope)
        counter = self._counters.get((method, route, status_code))
        if counter is None:
            counter = self._counters[method, route, status_code] = HTTP_REQUESTS.labels(
                method, route, str(status_code)
            )
        histogram = self._histograms.get((method, route))
        if histogram is None:
            histogram = self._histograms[method, route] = HTTP_REQUEST_DURATION.labels(method, route)
        counter.inc()
        histogram.observe(elapsed_s)
