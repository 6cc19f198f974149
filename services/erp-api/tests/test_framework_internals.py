"""The FastAPI and uvicorn internals of erp_api.framework_internals are still there, in the shape read.

Each test names the internal it pins: when one fails after an upgrade, the
docstring of erp_api.framework_internals says what depends on it.
"""

from __future__ import annotations

import inspect
from contextlib import AsyncExitStack
from typing import Any

import httpx
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.server import ServerState

from erp_api.framework_internals import (
    FUNCTION_STACK,
    HttpToolsProtocol,
    function_exit_stack,
    included_route_template,
)


async def _get(app: ASGIApp, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.get(path)


async def test_fastapi_gives_the_endpoint_a_function_scoped_exit_stack():
    app = FastAPI()
    seen: dict[str, Any] = {}

    @app.get("/stack")
    async def stack(request: Request) -> None:
        seen["stack"] = request.scope.get(FUNCTION_STACK)

    assert (await _get(app, "/stack")).status_code == 200
    assert isinstance(seen["stack"], AsyncExitStack), (
        f"FastAPI internal moved: scope[{FUNCTION_STACK!r}] is {seen['stack']!r}, not an AsyncExitStack"
    )


async def test_the_function_scoped_stack_closes_before_the_answer_is_sent():
    app = FastAPI()
    order: list[str] = []

    @app.get("/stack")
    async def stack(request: Request) -> None:
        function_exit_stack(request.scope).callback(order.append, "stack closed")

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        async def record(message: Any) -> None:
            if message["type"] == "http.response.start":
                order.append("answer started")
            await send(message)

        await app(scope, receive, record)

    await _get(recording, "/stack")
    assert order == ["stack closed", "answer started"], f"FastAPI internal {FUNCTION_STACK!r}: {order}"


async def test_fastapi_keeps_the_full_template_of_an_included_route():
    app = FastAPI()
    inner = APIRouter(prefix="/organizations")

    @inner.get("/{organization_id}")
    async def read(organization_id: str) -> None:
        pass

    app.include_router(inner, prefix="/api/v1")
    templates: list[str | None] = []

    async def reading_after_routing(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)
        templates.append(included_route_template(scope))

    assert (await _get(reading_after_routing, "/api/v1/organizations/42")).status_code == 200
    assert templates == ["/api/v1/organizations/{organization_id}"], (
        f"FastAPI internal moved: scope['fastapi']['effective_route_context'].path_format gave {templates}"
    )


def test_uvicorn_httptools_protocol_has_what_the_bounded_protocol_uses():
    for callback in ("data_received", "on_headers_complete", "on_message_complete"):
        assert callable(getattr(HttpToolsProtocol, callback, None)), (
            f"uvicorn internal moved: HttpToolsProtocol.{callback}"
        )
    config = uvicorn.Config(FastAPI(), http="httptools", log_config=None)
    config.load()
    state = ServerState()
    protocol = HttpToolsProtocol(config=config, server_state=state, app_state={"settings": None})
    assert protocol.app_state == {"settings": None}, "uvicorn internal moved: HttpToolsProtocol.app_state"
    assert isinstance(protocol.server_state.default_headers, list), (
        "uvicorn internal moved: HttpToolsProtocol.server_state.default_headers"
    )
    assert "self.transport = transport" in inspect.getsource(HttpToolsProtocol.connection_made), (
        "uvicorn internal moved: HttpToolsProtocol.transport"
    )
