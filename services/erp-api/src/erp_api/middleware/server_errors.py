"""Turns an unhandled exception into the 500 problem answer, inside the header middleware.

Starlette's ``ServerErrorMiddleware`` sits outside all user middleware, so an
answer it produced would lack ``X-Request-ID`` and the security headers; this
catch-all sits inside them. The traceback goes to the log with the
request id; the answer says nothing of the exception.

A request still running at the graceful-shutdown deadline is cancelled by
uvicorn, which would answer a bare ``text/plain`` 500; it gets the 503
problem instead (docs/contract.md §8), then the cancellation goes on.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from erp_api.problems import SERVER_ERROR_DETAIL, problem_response

SHUTDOWN_DETAIL = "The server is shutting down; retry the request"

logger = logging.getLogger("erp_api.errors")


class ServerErrorMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        response_started = False

        async def send_tracking(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            logger.exception("unhandled error while serving %s %s", scope["method"], scope["path"])
            if response_started:
                # Too late for an error answer: let the server see the failure
                # and close the connection on the incomplete response.
                raise
            response = problem_response(500, scope["path"], SERVER_ERROR_DETAIL)
            await response(scope, receive, send)
        except asyncio.CancelledError:
            if response_started:
                raise
            logger.warning("cancelled at the shutdown deadline: %s %s", scope["method"], scope["path"])
            # The cancellation was delivered once; this answer's awaits run to their end.
            response = problem_response(503, scope["path"], SHUTDOWN_DETAIL, headers={"Connection": "close"})
            await response(scope, receive, send)
            raise
