"""Liveness and readiness probes (contract §4), answering GET and HEAD."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from erp_api.readiness import Readiness

router = APIRouter(prefix="/healthz", tags=["health"])


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


@router.api_route("/live", methods=["GET", "HEAD"], response_model=LiveResponse)
async def live() -> JSONResponse:
    """The process is up and serving; touches no dependency, so a database outage never restarts it."""
    return _RawJSON(_LIVE_BODY)


@router.api_route(
    "/ready",
    methods=["GET", "HEAD"],
    response_model=ReadyResponse,
    responses={503: {"model": ReadyResponse, "description": "A dependency is unavailable"}},
)
async def ready(request: Request) -> JSONResponse:
    """Every dependency answers: the database, at the migrations' head revision, and Redis."""
    readiness: Readiness = request.state.readiness
    results = await readiness.check()
    healthy = all(result.ok for result in results.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {name: result.as_dict() for name, result in results.items()},
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


class _RawJSON(JSONResponse):
    """A JSON answer whose bytes are already rendered (the live probe is the hottest path)."""

    def render(self, content: object) -> bytes:
        assert isinstance(content, bytes)
        return content
