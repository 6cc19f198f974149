"""Liveness and readiness probes (docs/contract.md §4), answering GET and HEAD.

They are added to the application itself rather than through an included
``APIRouter``: FastAPI (0.16x) dispatches an included router through one
more routing layer, about 10 µs per request, and probes are polled
constantly.

``/healthz/live``, polled most and answering a constant, is served by
:class:`LiveEndpoint`, a pure-ASGI endpoint on a Starlette ``Route`` placed
before the documented FastAPI route: FastAPI's per-request machinery
(dependency solving, the endpoint call, response rendering) cost several
times the rest of the route's work (measured: ~135 µs against ~20 µs per
request in process, on a loaded machine). Every middleware still runs, the
router still matches it (``scope["route"]``, the metrics' route label), and
another method still gets the 405 problem with ``Allow``. The FastAPI route
(:func:`live`) stays for the OpenAPI document only: it is never reached.
"""

from __future__ import annotations

from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from erp_api.lifespan import app_state

PREFIX = "/healthz"
HEALTH_PATHS = frozenset({f"{PREFIX}/live", f"{PREFIX}/ready"})


class LiveResponse(BaseModel):
    status: Literal["ok"] = "ok"


class CheckResult(BaseModel):
    status: Literal["ok", "fail"]
    latency_ms: float
    error: str | None = None


class ReadyResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, CheckResult]


_LIVE_BODY = b'{"status":"ok"}'
_LIVE_HEADERS = ((b"content-length", str(len(_LIVE_BODY)).encode()), (b"content-type", b"application/json"))


class LiveEndpoint:
    """``200 {"status":"ok"}``, the bytes and headers Starlette's ``JSONResponse`` would send."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A fresh header list each time: the middleware above edits it.
        await send({"type": "http.response.start", "status": 200, "headers": list(_LIVE_HEADERS)})
        await send({"type": "http.response.body", "body": _LIVE_BODY})


async def live() -> LiveResponse:
    """The process is up and serving; touches no dependency, so a database outage never restarts it.

    Documentation only: :class:`LiveEndpoint`, matched first, answers every
    request to this path, so this body never runs.
    """
    return LiveResponse()


async def ready(request: Request) -> JSONResponse:
    """Every dependency answers: the database, at the migrations' head revision, and Redis."""
    results = await app_state(request)["readiness"].check()
    healthy = all(result.ok for result in results.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {name: result.as_dict() for name, result in results.items()},
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


def add_health_routes(app: FastAPI) -> None:
    # First match wins: the pure-ASGI live endpoint, then the documented route it shadows.
    app.router.routes.append(_MatchedRoute(f"{PREFIX}/live", LiveEndpoint(), methods=["GET", "HEAD"]))
    app.add_api_route(
        f"{PREFIX}/live", live, methods=["GET", "HEAD"], response_model=LiveResponse, tags=["health"]
    )
    app.add_api_route(
        f"{PREFIX}/ready",
        ready,
        methods=["GET", "HEAD"],
        response_model=ReadyResponse,
        responses={503: {"model": ReadyResponse, "description": "A dependency is unavailable"}},
        tags=["health"],
    )


class _MatchedRoute(Route):
    """A Starlette route that leaves itself in ``scope["route"]``, as FastAPI's ``APIRoute`` does.

    FastAPI's router (0.16x) sets ``scope["route"]`` only through its own
    routes' match; the metrics read the route template there.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope
