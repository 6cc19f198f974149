"""SecurityHeadersMiddleware over a bare ASGI app: set once, replacing the app's own."""

import httpx
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from erp_api.middleware.security_headers import (
    API_CONTENT_SECURITY_POLICY,
    DOCS_CONTENT_SECURITY_POLICY,
    HSTS,
    SecurityHeadersMiddleware,
)


async def _cacheable(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("ok", headers={"Cache-Control": "max-age=3600"})(scope, receive, send)


async def _get(path: str, *, hsts: bool) -> httpx.Response:
    app = SecurityHeadersMiddleware(_cacheable, hsts=hsts, docs_paths=frozenset({"/docs"}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.get(path)


async def test_headers_replace_the_apps_own_instead_of_duplicating_them():
    response = await _get("/api", hsts=False)

    assert response.headers.get_list("cache-control") == ["no-store"]
    assert response.headers["content-security-policy"] == API_CONTENT_SECURITY_POLICY
    assert "strict-transport-security" not in response.headers


async def test_docs_pages_get_their_policy_and_hsts_is_sent_when_asked():
    response = await _get("/docs", hsts=True)

    assert response.headers["content-security-policy"] == DOCS_CONTENT_SECURITY_POLICY
    assert response.headers["strict-transport-security"] == HSTS
