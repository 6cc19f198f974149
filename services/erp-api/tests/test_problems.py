import logging
import uuid
from typing import Annotated, Literal

import httpx
import pytest
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from erp_api import create_app
from erp_api.problems import status_title
from erp_api_testing import MakeSettings, serve_in_process
from erp_core.testing import capture_logs

PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "request_id"}


class Thing(BaseModel):
    name: str
    quantity: int


class Cat(BaseModel):
    kind: Literal["cat"]


class Dog(BaseModel):
    kind: Literal["dog"]


class Owner(BaseModel):
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]
    ident: uuid.UUID
    code: str = Field(pattern=r"^[A-Z]{3}$", max_length=3)


def _test_routes() -> APIRouter:
    router = APIRouter()

    @router.post("/things", status_code=201)
    async def create_thing(thing: Thing) -> Thing:
        return thing

    @router.post("/owners")
    async def create_owner(owner: Owner) -> None:
        return None

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("db password is hunter2 in module secret_module")

    @router.get("/conflict")
    async def conflict() -> None:
        raise HTTPException(409, "already booked", headers={"X-Hint": "retry later"})

    return router


@pytest.fixture
async def client(make_settings: MakeSettings):
    settings = make_settings(MAX_REQUEST_BODY_BYTES="256")
    app = create_app(settings)
    app.include_router(_test_routes(), prefix=settings.api_v1_prefix)
    async with serve_in_process(app) as client:
        yield client


def assert_problem(response: httpx.Response, status: int, title: str) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) >= PROBLEM_FIELDS
    assert body["type"] == "about:blank"
    assert body["title"] == title
    assert body["status"] == status
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_unknown_route_is_a_404_problem(client):
    body = assert_problem(await client.get("/nowhere"), 404, "Not Found")
    assert "errors" not in body


async def test_wrong_method_is_a_405_problem_that_keeps_allow(client):
    response = await client.delete("/healthz/live")

    assert_problem(response, 405, "Method Not Allowed")
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}


async def test_validation_failure_is_a_422_problem_listing_errors_without_input(client):
    secret = "s3cr3t-value-never-echoed"
    response = await client.post("/api/v1/things", json={"quantity": secret})

    body = assert_problem(response, 422, "Unprocessable Content")
    assert body["detail"] == "Request validation failed"
    assert {tuple(error["loc"]) for error in body["errors"]} == {("body", "name"), ("body", "quantity")}
    for error in body["errors"]:
        assert set(error) == {"loc", "message", "type"}
    assert secret not in response.text


async def test_messages_never_quote_the_input_even_where_pydantic_would(client):
    secret = "S3CRET"
    payload = {"pet": {"kind": f"{secret}-tag"}, "ident": f"{secret}-uuid", "code": f"{secret}-code"}
    response = await client.post("/api/v1/owners", json=payload)

    body = assert_problem(response, 422, "Unprocessable Content")
    assert secret not in response.text
    messages = {error["type"]: error["message"] for error in body["errors"]}
    assert messages["union_tag_invalid"].endswith("expected tags: 'cat', 'dog'")
    assert messages["string_too_long"] == "String should have at most 3 characters"
    assert "uuid_parsing" in messages


async def test_malformed_json_is_a_422_problem(client):
    response = await client.post(
        "/api/v1/things", content=b'{"name": ', headers={"content-type": "application/json"}
    )

    assert_problem(response, 422, "Unprocessable Content")


async def test_http_exception_keeps_its_status_detail_and_headers(client):
    response = await client.get("/api/v1/conflict")

    body = assert_problem(response, 409, "Conflict")
    assert body["detail"] == "already booked"
    assert response.headers["x-hint"] == "retry later"


async def test_unhandled_exception_is_an_opaque_500_and_its_traceback_is_logged(client):
    with capture_logs(logging.ERROR) as logs:
        response = await client.get("/api/v1/boom", headers={"X-Request-ID": "trace-me-1"})

    body = assert_problem(response, 500, "Internal Server Error")
    assert body["request_id"] == "trace-me-1"
    for leak in ("hunter2", "RuntimeError", "secret_module", "Traceback"):
        assert leak not in response.text
    errors = [record for record in logs.records if record["level"] == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "trace-me-1"
    assert "RuntimeError: db password" in errors[0]["exc_info"]


async def test_declared_oversized_body_is_a_413_problem(client):
    response = await client.post("/api/v1/things", json={"name": "x" * 300, "quantity": 1})

    body = assert_problem(response, 413, "Content Too Large")
    assert "256 bytes" in body["detail"]


async def test_streamed_oversized_body_is_a_413_problem(client):
    async def chunks():
        for _ in range(10):
            yield b'{"name": "xxxxxxxxxxxxxxxx", '

    response = await client.post(
        "/api/v1/things", content=chunks(), headers={"content-type": "application/json"}
    )

    assert_problem(response, 413, "Content Too Large")


async def test_body_within_the_limit_is_served(client):
    response = await client.post("/api/v1/things", json={"name": "bolt", "quantity": 3})

    assert response.status_code == 201
    assert response.json() == {"name": "bolt", "quantity": 3}


def test_titles_are_rfc9110_reason_phrases():
    assert status_title(413) == "Content Too Large"
    assert status_title(422) == "Unprocessable Content"
    assert status_title(404) == "Not Found"
    assert status_title(503) == "Service Unavailable"


async def test_debug_mode_never_puts_a_traceback_in_an_answer(make_settings: MakeSettings):
    settings = make_settings(DEBUG_MODE="true")
    app = create_app(settings)
    app.include_router(_test_routes(), prefix=settings.api_v1_prefix)
    async with serve_in_process(app) as client:
        response = await client.get("/api/v1/boom")

    assert_problem(response, 500, "Internal Server Error")
    assert "Traceback" not in response.text
    assert "hunter2" not in response.text
