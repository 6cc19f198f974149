"""BodyLimitMiddleware over a bare ASGI app: declared and streamed bodies past the limit."""

import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from erp_api.middleware.body_limit import BodyLimitMiddleware, json_values


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


@pytest.fixture
async def values_client():
    app = Starlette(routes=[Route("/", _size, methods=["POST"])], exception_handlers={HTTPException: _status})
    transport = httpx.ASGITransport(app=BodyLimitMiddleware(app, max_body_bytes=10_000, max_json_values=5))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.mark.parametrize(
    ("document", "status"),
    [
        ([1, 2, 3, 4, 5], 200),
        ([1, 2, 3, 4, 5, 6], 413),
        ({"a": [1, 2], "b": {"c": 3}}, 200),  # a, b, 1, 2, c: five
        ({"a": [1, 2], "b": {"c": 3, "d": 4}}, 413),
        ([[], [], [], [], [[]]], 413),  # five items and one more inside
        ({"text": "a,b,c,d,e,f,g,h [{ ]}"}, 200),  # commas and brackets inside a string count nothing
    ],
)
async def test_a_json_body_may_hold_a_bounded_number_of_values(values_client, document, status):
    response = await values_client.post("/", json=document)

    assert response.status_code == status


async def test_values_are_counted_over_a_streamed_body(values_client):
    async def chunks():
        yield b"[1,2,3,"
        yield b"4,5,6]"

    response = await values_client.post("/", content=chunks(), headers={"content-type": "application/json"})

    assert response.status_code == 413


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"a=1&b=2&c=3&d=4&e=5&f=6,7,8,9", "application/x-www-form-urlencoded"),
        (b"1,2,3,4,5,6,7,8", "text/csv"),
        (b"[1,2,3,4,5,6,7", "application/json"),  # not JSON at all: the app says so
    ],
)
async def test_bodies_that_are_not_json_documents_are_not_counted(values_client, content, content_type):
    response = await values_client.post("/", content=content, headers={"content-type": content_type})

    assert response.status_code == 200


def test_json_values_counts_items_and_members_at_every_depth():
    assert json_values(b'{"a": [1, {"b": null}], "c": []}') == 5
    assert json_values(b"[" * 100_000 + b"]" * 100_000) == 0  # too deep for json: FastAPI's to refuse
    assert json_values(b"not json") == 0
    assert json_values(b"[[1, 2], [3, 4], [5, 6]]", stop_above=2) == 3  # stops at the outer list
