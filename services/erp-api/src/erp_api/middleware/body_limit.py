"""Bounds the request body at ``MAX_REQUEST_BODY_BYTES`` with a 413 problem answer.

Starlette's own ``max_body_size`` answers from outside the user middleware
(no request id, no security headers); this one sits inside them. A declared
``Content-Length`` over the limit is refused before the app runs; a streamed
body is counted as it is read, and the read that crosses the limit raises
the 413 ``HTTPException`` that FastAPI's exception handling renders.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from erp_api.problems import problem_response


def _too_large_detail(limit: int) -> str:
    return f"The request body exceeds the limit of {limit} bytes"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        limit = self.max_body_bytes
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = problem_response(413, scope["path"], _too_large_detail(limit))
            await response(scope, receive, send)
            return

        received = 0

        async def receive_counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, _too_large_detail(limit))
            return message

        await self.app(scope, receive_counted, send)
