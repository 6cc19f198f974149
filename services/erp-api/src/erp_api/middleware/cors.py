"""Starlette's CORS middleware, made strict about origins it does not allow (docs/contract.md §6).

Starlette adds ``Access-Control-Allow-Credentials`` and
``Access-Control-Expose-Headers`` to simple answers whatever the origin, and
answers a refused preflight with plain text and its full header set. The
contract wants a refused origin to get no ``Access-Control-*`` header at all,
and a refused preflight to be a problem answer; the rest stays Starlette's.

Composed, not subclassed: a wrapped :class:`~starlette.middleware.cors.CORSMiddleware`
answers allowed origins and preflights through its ASGI interface only, so
its internals may change between Starlette releases without touching this.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from erp_api.problems import problem_response

ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# What a browser client of §9-§10 sends and must read: conditional requests
# (If-Match, If-None-Match, ETag), where a created thing lives, when to retry
# after a 429, and why a token was refused.
ALLOWED_HEADERS = ("Authorization", "Content-Type", "If-Match", "If-None-Match", "X-Request-ID")
EXPOSED_HEADERS = ("ETag", "Location", "Retry-After", "WWW-Authenticate", "X-Request-ID")


class StrictCORSMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        allow_origins: Sequence[str],
        allow_credentials: bool,
        allow_methods: Sequence[str],
        allow_headers: Sequence[str],
        expose_headers: Sequence[str],
    ) -> None:
        self.app = app
        self.allow_all_origins = "*" in allow_origins
        self.allow_origins = frozenset(allow_origins)
        self.cors = CORSMiddleware(
            app,
            allow_origins=allow_origins,
            allow_credentials=allow_credentials,
            allow_methods=allow_methods,
            allow_headers=allow_headers,
            expose_headers=expose_headers,
        )

    def is_allowed_origin(self, origin: str) -> bool:
        # Exact comparison, as browsers serialise origins in lower case and the
        # settings normalise CORS_ALLOWED_ORIGINS to it.
        return self.allow_all_origins or origin in self.allow_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not any(name == b"origin" for name, _ in scope["headers"]):
            # Not a cross-origin request (probes, other services, curl): all Starlette
            # would do is add `Vary: Origin`; do just that, without parsing headers twice.
            send = functools.partial(_send_varying_on_origin, send) if scope["type"] == "http" else send
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers["origin"]
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(scope, receive, send, origin)
        elif self.is_allowed_origin(origin):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, functools.partial(_send_varying_on_origin, send))

    async def _preflight(self, scope: Scope, receive: Receive, send: Send, origin: str) -> None:
        answer: list[Message] = []

        async def keep(message: Message) -> None:
            answer.append(message)

        await self.cors(scope, receive, keep)  # a preflight never reaches the app
        if answer[0]["status"] == 200:
            for message in answer:
                await send(message)
            return
        # A browser only needs the status; the problem body tells a person why
        # ("Disallowed CORS origin, method"), without Starlette's Access-Control-* headers.
        reason = b"".join(message.get("body", b"") for message in answer[1:]).decode("latin-1")
        response = problem_response(400, scope["path"], reason)
        if self.is_allowed_origin(origin):
            response.headers["Vary"] = "Origin"
        await response(scope, receive, send)


async def _send_varying_on_origin(send: Send, message: Message) -> None:
    if message["type"] == "http.response.start":
        # Starlette's `headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])`, raw.
        headers = message.get("headers", ())
        vary = [value for name, value in headers if name == b"vary"]
        kept = [header for header in headers if header[0] != b"vary"] if vary else list(headers)
        message["headers"] = [*kept, (b"vary", b", ".join([*vary, b"Origin"]))]
    await send(message)
