"""Gives every request an id, binds it for logs and error bodies, and answers it in ``X-Request-ID``."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from erp_core import bind_request_id, request_id_from

_HEADER = b"x-request-id"


class RequestIdMiddleware:
    """Outside every other middleware but the metrics one, so every log line of the request carries the id.

    Only :class:`~erp_api.middleware.metrics.MetricsMiddleware`, which logs
    nothing, sits outside it (the order is drawn in :mod:`erp_api.app`).

    The caller's ``X-Request-ID`` is kept only when it is 1 to 128 characters of
    ``[A-Za-z0-9._-]``; anything else is replaced, never reflected.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        offered = None
        for name, value in scope["headers"]:  # a plain loop: half the cost of next() over a generator
            if name == _HEADER:
                offered = value.decode("latin-1")
                break
        request_id = request_id_from(offered)

        answered = (_HEADER, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Raw (lower-case) header list, as Starlette's MutableHeaders edits it, without its cost.
                kept = [header for header in message.get("headers", ()) if header[0] != _HEADER]
                kept.append(answered)
                message["headers"] = kept
            await send(message)

        # An exception leaving the app keeps the id bound in this request's task, for
        # uvicorn's own "Exception in ASGI application" line (docs/contract.md §7).
        with bind_request_id(request_id, keep_on_error=True):
            await self.app(scope, receive, send_with_id)
