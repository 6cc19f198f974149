"""One structured access-log line per request, replacing uvicorn's (docs/contract.md §7)."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("erp_api.access")


class AccessLogMiddleware:
    """Logs method, path, status, duration and client once the answer is complete.

    Runs inside :class:`RequestIdMiddleware`, so the line carries the request
    id. The query string is left out: it may carry tokens. Control characters
    in the path cannot break the line: the JSON formatter escapes them, the
    console formatter too.
    """

    def __init__(self, app: ASGIApp, *, unlogged_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        # ACCESS_LOG_HEALTH_PROBES=false: the probes, polled constantly, write no line.
        self.unlogged_paths = unlogged_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.unlogged_paths:
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status_code = 500  # what the server answers if the app fails before responding

        async def send_observed(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            if logger.isEnabledFor(logging.INFO):
                client = scope.get("client")
                method, path = scope["method"], scope["path"]
                logger.info(
                    "%s %s %d",
                    method,
                    path,
                    status_code,
                    extra={
                        "method": method,
                        "path": path,
                        "status_code": status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "client": f"{client[0]}:{client[1]}" if client else None,
                    },
                )
