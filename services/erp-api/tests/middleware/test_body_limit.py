"""BodyLimitMiddleware over a bare ASGI app: declared and streamed bodies past the limit."""

import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from erp_api.middleware.body_limit import BodyLimitMiddleware


async def _size(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


async def _status(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"status": exc.status_code}, status_code=exc.status_code)


@pytest.fixture
async def client():
    app = Starlette(routes=[Route("/", _size, methods=["POST"])], exception_handlers={HTTPException: _status})
    transport = httpx.ASGITransport(app=BodyLimitMiddleware(app, max_body_bytes=10))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_a_body_at_the_limit_is_read_whole(client):
    response = await client.post("/", content=b"x" * 10)

    assert (response.status_code, response.text) == (200, "10")


async def test_a_declared_length_past_the_limit_is_refused_before_the_app_runs(client):
    response = await client.post("/", content=b"x" * 11)

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "The request body exceeds the limit of 10 bytes"


async def test_a_streamed_body_is_stopped_when_it_crosses_the_limit(client):
    async def chunks():
        for _ in range(4):
            yield b"xxxx"

    response = await client.post("/", content=chunks())

    assert response.status_code == 413  # raised to the app's exception handling
