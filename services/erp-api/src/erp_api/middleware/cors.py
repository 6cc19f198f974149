"""Starlette's CORS middleware, made strict about origins it does not allow (docs/contract.md §6).

Starlette adds ``Access-Control-Allow-Credentials`` and
``Access-Control-Expose-Headers`` to simple answers whatever the origin, and
answers a refused preflight with plain text and its full header set. The
contract wants a refused origin to get no ``Access-Control-*`` header at all,
and a refused preflight to be a problem answer; the rest stays Starlette's.
"""

from __future__ import annotations

import functools

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Message, Receive, Scope, Send

from erp_api.problems import problem_response

ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-Request-ID")
EXPOSED_HEADERS = ("X-Request-ID",)


class StrictCORSMiddleware(CORSMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not any(name == b"origin" for name, _ in scope["headers"]):
            # Not a cross-origin request (probes, other services, curl): all Starlette
            # would do is add `Vary: Origin`; do just that, without parsing headers twice.
            await self.app(scope, receive, functools.partial(_send_varying_on_origin, send))
            return
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if origin is not None and "access-control-request-method" in headers:
                response = self.preflight_response(request_headers=headers)
                if response.status_code != 200:
                    # A browser only needs the status; the problem body tells a person why.
                    reason = bytes(response.body).decode("latin-1")
                    response = problem_response(400, scope["path"], reason)
                    if self.is_allowed_origin(origin):
                        response.headers["Vary"] = "Origin"
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        origin = request_headers.get("origin")
        if (
            message["type"] == "http.response.start"
            and origin is not None
            and not self.is_allowed_origin(origin)
        ):
            headers = MutableHeaders(scope=message)
            headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
            await send(message)
            return
        await super().send(message, send, request_headers)


async def _send_varying_on_origin(send: Send, message: Message) -> None:
    if message["type"] == "http.response.start":
        # Starlette's `headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])`, raw.
        headers = message.get("headers", ())
        vary = [value for name, value in headers if name == b"vary"]
        kept = [header for header in headers if header[0] != b"vary"] if vary else list(headers)
        message["headers"] = [*kept, (b"vary", b", ".join([*vary, b"Origin"]))]
    await send(message)
