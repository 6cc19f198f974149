import pytest
from fastapi import APIRouter, Response

from erp_api import create_app
from erp_api_testing import MakeSettings, serve_in_process

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "cache-control": "no-store",
}


def _failing_routes() -> APIRouter:
    router = APIRouter()

    @router.post("/echo")
    async def echo(value: int) -> int:
        return value

    @router.get("/crash")
    async def crash() -> None:
        raise ValueError("unexpected")

    @router.get("/own-headers")
    async def own_headers() -> Response:
        # A route that sets headers the middleware owns, one of them twice.
        headers = [("Cache-Control", "public, max-age=60"), ("X-Request-ID", "forged"), ("Vary", "Accept")]
        response = Response("x")
        for name, value in headers:
            response.headers.append(name, value)
        response.headers.append("cache-control", "immutable")
        return response

    return router


@pytest.fixture
async def client(make_settings: MakeSettings):
    settings = make_settings(MAX_REQUEST_BODY_BYTES="10", CORS_ALLOWED_ORIGINS="https://app.example")
    app = create_app(settings)
    app.include_router(_failing_routes(), prefix="/api/v1")
    async with serve_in_process(app) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/healthz/live", {}, 200),
        ("GET", "/healthz/ready", {}, 200),
        ("GET", "/missing", {}, 404),
        ("PUT", "/healthz/live", {}, 405),
        ("POST", "/api/v1/echo", {"params": {"value": "x"}}, 422),
        ("POST", "/api/v1/echo", {"params": {"value": 1}, "content": b"x" * 11}, 413),
        ("GET", "/api/v1/crash", {}, 500),
        (
            "OPTIONS",
            "/api/v1/echo",
            {"headers": {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}},
            200,
        ),
        (
            "OPTIONS",
            "/api/v1/echo",
            {"headers": {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}},
            400,
        ),
    ],
)
async def test_every_answer_carries_request_id_and_security_headers(client, method, path, kwargs, status):
    response = await client.request(method, path, **kwargs)

    assert response.status_code == status
    assert len(response.headers["x-request-id"]) == 32
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "server" not in response.headers
    assert "strict-transport-security" not in response.headers  # ENVIRONMENT=test


async def test_ready_503_carries_the_headers_too(make_settings: MakeSettings):
    settings = make_settings(APP_CACHE_REDIS_URL="redis://127.0.0.1:1/0")
    async with serve_in_process(create_app(settings)) as client:
        response = await client.get("/healthz/ready")

    assert response.status_code == 503
    assert response.headers["x-request-id"]
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


async def test_a_valid_caller_request_id_is_kept(client):
    response = await client.get("/healthz/live", headers={"X-Request-ID": "abc.DEF-123_x"})

    assert response.headers["x-request-id"] == "abc.DEF-123_x"


@pytest.mark.parametrize("offered", ["has space", "x" * 129, "semi;colon", "ünï", ""])
async def test_an_invalid_caller_request_id_is_replaced(client, offered):
    response = await client.get("/healthz/live", headers={"X-Request-ID": offered.encode("utf-8")})

    assert response.headers["x-request-id"] != offered
    assert len(response.headers["x-request-id"]) == 32


@pytest.mark.parametrize("environment", ["staging", "production"])
async def test_hsts_is_sent_in_deployed_environments(make_settings: MakeSettings, environment):
    async with serve_in_process(create_app(make_settings(ENVIRONMENT=environment))) as client:
        response = await client.get("/healthz/live")

    assert response.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"


async def test_docs_pages_get_their_own_policy_and_the_api_keeps_the_strict_one(client):
    docs = await client.get("/docs")
    schema = await client.get("/openapi.json")

    assert docs.status_code == 200
    assert "cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    assert schema.headers["content-security-policy"] == SECURITY_HEADERS["content-security-policy"]


async def test_the_middleware_replaces_headers_a_route_set_and_keeps_its_vary(client):
    response = await client.get("/api/v1/own-headers", headers={"X-Request-ID": "mine"})

    assert response.headers.get_list("cache-control") == ["no-store"]
    assert response.headers.get_list("x-request-id") == ["mine"]
    assert response.headers.get_list("vary") == ["Accept, Origin"]
    assert response.headers["x-frame-options"] == "DENY"


async def test_an_answer_to_a_request_without_origin_varies_on_origin_without_cors_headers(client):
    response = await client.get("/healthz/live")

    assert response.headers.get_list("vary") == ["Origin"]
    assert not [name for name in response.headers if name.startswith("access-control-")]
