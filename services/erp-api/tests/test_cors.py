import pytest

from erp_api import create_app
from erp_api_testing import MakeSettings, serve_in_process

ALLOWED = "https://app.example"
OTHER = "https://evil.example"


def _cors_headers(response) -> set[str]:
    return {name for name in response.headers if name.lower().startswith("access-control-")}


@pytest.fixture(params=["false", "true"], ids=["without-credentials", "with-credentials"])
async def client(request, make_settings: MakeSettings):
    settings = make_settings(
        CORS_ALLOWED_ORIGINS=f"{ALLOWED}, https://other.example:8443", CORS_ALLOW_CREDENTIALS=request.param
    )
    async with serve_in_process(create_app(settings)) as client:
        yield client


async def test_allowed_origin_gets_its_origin_back_and_vary(client):
    response = await client.get("/healthz/live", headers={"Origin": ALLOWED})

    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "Origin" in response.headers["vary"]
    exposed = {name.strip() for name in response.headers["access-control-expose-headers"].split(",")}
    assert exposed == {"ETag", "Location", "Retry-After", "WWW-Authenticate", "X-Request-ID"}


async def test_disallowed_origin_gets_no_access_control_header(client):
    response = await client.get("/healthz/live", headers={"Origin": OTHER})

    assert response.status_code == 200
    assert _cors_headers(response) == set()


async def test_preflight_from_allowed_origin_is_200(client):
    response = await client.options(
        "/api/v1/anything",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-request-id",
        },
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_preflight_from_other_origin_is_a_400_problem_without_access_control_headers(client):
    response = await client.options(
        "/api/v1/anything", headers={"Origin": OTHER, "Access-Control-Request-Method": "POST"}
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Bad Request"
    assert _cors_headers(response) == set()
    assert response.headers["x-request-id"]


async def test_no_origin_configured_means_no_cross_origin_access(make_settings: MakeSettings):
    async with serve_in_process(create_app(make_settings())) as client:
        simple = await client.get("/healthz/live", headers={"Origin": ALLOWED})
        preflight = await client.options(
            "/healthz/live", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"}
        )

    assert _cors_headers(simple) == set()
    assert preflight.status_code == 400
    assert _cors_headers(preflight) == set()


async def test_wildcard_without_credentials_answers_star(make_settings: MakeSettings):
    async with serve_in_process(create_app(make_settings(CORS_ALLOWED_ORIGINS="*"))) as client:
        response = await client.get("/healthz/live", headers={"Origin": OTHER})

    assert response.headers["access-control-allow-origin"] == "*"
