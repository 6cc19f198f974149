"""Security headers on every answer, errors and health checks included (docs/contract.md §6)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
# Swagger UI and ReDoc load their scripts and styles from a CDN and run inline
# start-up code; only those pages get this looser policy.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "connect-src 'self'; worker-src blob:; frame-ancestors 'none'"
)
HSTS = "max-age=63072000; includeSubDomains"


class SecurityHeadersMiddleware:
    """Adds the fixed header set; precomputed once, as Starlette's CORS middleware does."""

    def __init__(self, app: ASGIApp, *, hsts: bool, docs_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.docs_paths = docs_paths
        self.api_headers = security_headers(hsts=hsts)
        self.docs_headers = security_headers(hsts=hsts, content_security_policy=DOCS_CONTENT_SECURITY_POLICY)
        self.names = frozenset(name for name, _ in self.api_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        extra = self.docs_headers if scope["path"] in self.docs_paths else self.api_headers
        names = self.names

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # What MutableHeaders.update does (replace, don't duplicate), on the raw
                # list in one pass: this runs on every answer.
                kept = [header for header in message.get("headers", ()) if header[0] not in names]
                message["headers"] = [*kept, *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def security_headers(
    *, hsts: bool, content_security_policy: str = API_CONTENT_SECURITY_POLICY
) -> list[tuple[bytes, bytes]]:
    """The header set as raw ASGI pairs; also what the HTTP protocol sends on answers
    the application never sees (:mod:`erp_api.http_protocol`)."""
    headers = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": "no-store",
        "Content-Security-Policy": content_security_policy,
    }
    if hsts:
        headers["Strict-Transport-Security"] = HSTS
    return _raw(headers)


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
