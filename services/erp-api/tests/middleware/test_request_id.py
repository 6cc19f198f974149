"""RequestIdMiddleware over a bare ASGI app: the id is bound while the app runs and answered."""

import httpx
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from erp_api.middleware.request_id import RequestIdMiddleware
from erp_core import get_request_id


async def _echo_bound_id(scope: Scope, receive: Receive, send: Send) -> None:
    response = PlainTextResponse(get_request_id() or "", headers={"X-Request-ID": "app-set"})
    await response(scope, receive, send)


def _client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=RequestIdMiddleware(_echo_bound_id))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_the_bound_id_is_the_answered_id_and_replaces_the_apps():
    async with _client() as client:
        response = await client.get("/", headers={"X-Request-ID": "caller-7"})

    assert response.text == "caller-7"
    assert response.headers.get_list("x-request-id") == ["caller-7"]
    assert get_request_id() is None  # unbound once the request is over


async def test_a_forged_id_is_never_reflected():
    async with _client() as client:
        response = await client.get("/", headers={"X-Request-ID": b"forged id;\xff"})

    assert response.text == response.headers["x-request-id"]
    assert len(response.text) == 32
