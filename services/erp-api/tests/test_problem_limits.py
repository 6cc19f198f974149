"""What a problem answer holds back (docs/contract.md §5): a bounded `errors` list, keys the
caller invented, and no body at all for the statuses that carry none."""

import pytest
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict

from erp_api import create_app
from erp_api.middleware.body_limit import MAX_JSON_VALUES
from erp_api.problems import MAX_ERRORS_SHOWN
from erp_api_testing import MakeSettings, serve_in_process


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str


def _routes() -> APIRouter:
    router = APIRouter()

    @router.post("/numbers")
    async def numbers(items: list[int]) -> int:
        return len(items)

    @router.post("/strict")
    async def strict(body: Strict) -> None:
        return None

    @router.post("/labels")
    async def labels(body: dict[str, int]) -> None:
        return None

    @router.get("/status/{code}")
    async def status(code: int) -> None:
        raise HTTPException(code, "never shown", headers={"ETag": '"7"'})

    return router


@pytest.fixture
async def client(make_settings: MakeSettings):
    settings = make_settings()
    app = create_app(settings)
    app.include_router(_routes(), prefix=settings.api_v1_prefix)
    async with serve_in_process(app) as client:
        yield client


async def test_a_422_lists_the_first_errors_and_counts_them_all(client):
    response = await client.post("/api/v1/numbers", json=["x"] * 5_000)

    assert response.status_code == 422
    body = response.json()
    assert len(body["errors"]) == MAX_ERRORS_SHOWN
    assert body["errors_total"] == 5_000
    assert [error["loc"] for error in body["errors"][:2]] == [["body", 0], ["body", 1]]
    assert len(response.content) < 5_000


async def test_a_short_422_counts_what_it_shows(client):
    body = (await client.post("/api/v1/numbers", json=[1, "x"])).json()

    assert (len(body["errors"]), body["errors_total"]) == (1, 1)


async def test_a_json_body_over_the_value_limit_is_a_413_before_validation(client):
    # 1 MiB of bad items was 262,000 errors built by FastAPI and pydantic: seconds of one worker.
    response = await client.post("/api/v1/numbers", json=["x"] * (MAX_JSON_VALUES + 1))

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert str(MAX_JSON_VALUES) in response.json()["detail"]
    assert response.headers["x-request-id"]


async def test_a_json_body_at_the_value_limit_is_validated(client):
    response = await client.post("/api/v1/numbers", json=list(range(MAX_JSON_VALUES)))

    assert (response.status_code, response.json()) == (200, MAX_JSON_VALUES)


async def test_an_unknown_key_is_not_echoed_in_loc(client):
    secret = "sk_live_0123456789abcdef"
    response = await client.post("/api/v1/strict", json={"name": "x", secret: 1})

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"loc": ["body", "…"], "message": "Extra inputs are not permitted", "type": "extra_forbidden"}
    ]
    assert secret not in response.text


async def test_a_caller_key_that_is_no_field_name_is_masked_in_loc(client):
    long_key = "k" * 5_000
    response = await client.post("/api/v1/labels", json={long_key: "x", "plain": "y", "a b": "z"})

    assert response.status_code == 422
    locs = sorted(tuple(error["loc"]) for error in response.json()["errors"])
    assert locs == [("body", "plain"), ("body", "…"), ("body", "…")]
    assert long_key not in response.text


@pytest.mark.parametrize("code", [204, 304])
async def test_an_http_exception_without_content_answers_without_a_body(client, code):
    response = await client.get(f"/api/v1/status/{code}")

    assert response.status_code == code
    assert response.content == b""
    assert "content-type" not in response.headers
    assert response.headers["etag"] == '"7"'
    assert response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_other_http_exceptions_stay_problems(client):
    response = await client.get("/api/v1/status/409")

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


def test_the_openapi_document_names_errors_total(make_settings: MakeSettings):
    schema = create_app(make_settings()).openapi()["components"]["schemas"]["ErrorResponse"]

    assert "errors_total" in schema["properties"]
