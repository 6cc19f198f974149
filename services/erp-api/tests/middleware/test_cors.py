"""StrictCORSMiddleware over a bare ASGI app: Starlette's answers for allowed origins, nothing for others."""

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from erp_api.middleware.cors import ALLOWED_HEADERS, ALLOWED_METHODS, EXPOSED_HEADERS, StrictCORSMiddleware

ALLOWED = "https://app.example"


async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello", headers={"Vary": "Accept-Encoding"})


def _client(origins: list[str], *, credentials: bool = True) -> httpx.AsyncClient:
    app = StrictCORSMiddleware(
        Starlette(routes=[Route("/", _hello, methods=["GET", "POST"])]),
        allow_origins=origins,
        allow_credentials=credentials,
        allow_methods=ALLOWED_METHODS,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _access_control(response: httpx.Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.startswith("access-control-")}


async def test_an_allowed_origin_gets_starlettes_headers():
    async with _client([ALLOWED]) as client:
        response = await client.get("/", headers={"Origin": ALLOWED})

    assert _access_control(response) == {
        "access-control-allow-origin": ALLOWED,
        "access-control-allow-credentials": "true",
        "access-control-expose-headers": ", ".join(EXPOSED_HEADERS),
    }
    assert response.headers["vary"] == "Accept-Encoding, Origin"


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {}])
async def test_other_origins_and_same_origin_requests_get_only_vary(headers):
    async with _client([ALLOWED]) as client:
        response = await client.get("/", headers=headers)

    assert (response.status_code, response.text) == (200, "hello")
    assert _access_control(response) == {}
    assert response.headers["vary"] == "Accept-Encoding, Origin"


async def test_a_preflight_refused_for_its_method_is_a_problem_that_varies_on_origin():
    async with _client([ALLOWED]) as client:
        response = await client.options(
            "/", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "TRACE"}
        )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "Disallowed CORS method"
    assert _access_control(response) == {}
    assert response.headers["vary"] == "Origin"


async def test_a_preflight_from_another_origin_is_a_problem_without_vary():
    async with _client([ALLOWED]) as client:
        response = await client.options(
            "/", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
        )

    assert response.status_code == 400
    assert response.json()["detail"] == "Disallowed CORS origin"
    assert _access_control(response) == {}
    assert "vary" not in response.headers


async def test_an_accepted_preflight_is_starlettes_answer():
    async with _client([ALLOWED]) as client:
        response = await client.options(
            "/", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "PATCH"}
        )

    assert (response.status_code, response.text) == (200, "OK")
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "PATCH" in response.headers["access-control-allow-methods"]


def test_an_upper_case_configured_origin_matches_what_a_browser_sends(make_settings):
    # Browsers serialise the origin in lower case; the settings normalise to it.
    settings = make_settings(CORS_ALLOWED_ORIGINS="HTTPS://App.Example")

    assert StrictCORSMiddleware(
        Starlette(),
        allow_origins=settings.cors_allowed_origins,
        allow_credentials=False,
        allow_methods=ALLOWED_METHODS,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
    ).is_allowed_origin(ALLOWED)
