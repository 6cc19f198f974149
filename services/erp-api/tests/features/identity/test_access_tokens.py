"""Caller and CurrentUser: what a route behind an access token answers to each kind of token (§9).

``GET /users/me`` reads the caller through ``Caller`` (a Core read),
``PATCH /users/me`` through ``CurrentUser`` (the ORM ``User``).
"""

from __future__ import annotations

import base64
import json
import time
import types
import uuid
import warnings

import httpx
import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api import ApiSettings, create_app
from erp_api.features.identity import tokens
from erp_api_testing import serve_in_process
from erp_api_testing.statements import count_statements
from erp_db import User

from .conftest import AuthHeaders, MakeUser

ME = "/api/v1/users/me"
INVALID = 'Bearer error="invalid_token"'


def sign(settings: ApiSettings, **claims: object) -> str:
    now = int(time.time())
    payload = {"sub": str(uuid.uuid4()), "iat": now, "exp": now + 60, "jti": "x", "iss": settings.app_name}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    assert settings.jwt_secret_key is not None
    return jwt.encode(payload, settings.jwt_secret_key.get_secret_value(), algorithm="HS256")


def unsigned(claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def test_no_token_is_401_with_a_bare_bearer_challenge(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}):
        response = await client.get(ME, headers=headers)

        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == "Unauthorized"


async def test_every_bad_token_is_401_invalid_token_and_never_echoed(
    client: httpx.AsyncClient, make_user: MakeUser, erp_api_settings: ApiSettings
) -> None:
    user = await make_user()
    sub = str(user.id)
    good = sign(erp_api_settings, sub=sub)
    now = int(time.time())
    with warnings.catch_warnings():  # the same key, too short for HS512: what a forger would try
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        hs512 = jwt.encode(
            {"sub": sub, "iat": now, "exp": now + 60, "jti": "x", "iss": erp_api_settings.app_name},
            erp_api_settings.jwt_secret_key.get_secret_value() if erp_api_settings.jwt_secret_key else "",
            algorithm="HS512",
        )
    bad_tokens = {
        "garbage": "not-a-jwt-at-all",
        "truncated": good[: len(good) // 2],
        "bad signature": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "alg none": unsigned(
            {"sub": sub, "iat": now, "exp": now + 60, "jti": "x", "iss": erp_api_settings.app_name}
        ),
        "other key": jwt.encode(
            {"sub": sub, "iat": now, "exp": now + 60, "jti": "x", "iss": erp_api_settings.app_name},
            "another-key-of-at-least-thirty-two-bytes!",
            algorithm="HS256",
        ),
        "HS512": hs512,
        "expired": sign(erp_api_settings, sub=sub, iat=now - 3600, exp=now - 60),
        "other issuer": sign(erp_api_settings, sub=sub, iss="someone-else"),
        "no exp": sign(erp_api_settings, sub=sub, exp=None),
        "no jti": sign(erp_api_settings, sub=sub, jti=None),
        "sub not a uuid": sign(erp_api_settings, sub="admin"),
        "unknown user": sign(erp_api_settings),
        "10 kB": "a" * 10_240,
        "10 kB signed": sign(erp_api_settings, sub=sub, padding="x" * 10_240),
        "non-ascii": "é.é.é",
    }

    for name, token in bad_tokens.items():
        response = await client.get(ME, headers={"Authorization": f"Bearer {token}".encode()})

        assert response.status_code == 401, name
        assert response.headers["www-authenticate"] == INVALID, name
        assert token[:20] not in response.text, name
    assert (await client.get(ME, headers={"Authorization": f"Bearer {good}"})).status_code == 200


async def test_a_token_a_few_seconds_past_exp_is_still_accepted(
    client: httpx.AsyncClient, make_user: MakeUser, erp_api_settings: ApiSettings
) -> None:
    user = await make_user()
    now = int(time.time())
    token = sign(erp_api_settings, sub=str(user.id), iat=now - 60, exp=now - 3)

    response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200  # LEEWAY_S: replicas' clocks differ a little


async def test_a_token_accepted_before_is_refused_once_it_expires(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    erp_api_settings: ApiSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = await make_user()
    now = int(time.time())
    token = sign(erp_api_settings, sub=str(user.id), iat=now, exp=now + 60)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get(ME, headers=headers)).status_code == 200  # now remembered as verified

    later = now + 60 + tokens.LEEWAY_S
    monkeypatch.setattr(tokens, "time", types.SimpleNamespace(time=lambda: later))
    response = await client.get(ME, headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == INVALID


@pytest.mark.parametrize("method", ["GET", "PATCH"])
async def test_a_deactivated_user_is_refused_at_once(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: AuthHeaders,
    db_session: AsyncSession,
    method: str,
) -> None:
    user = await make_user(full_name="Before")
    headers = auth_headers(user)
    body = {"full_name": "After"} if method == "PATCH" else None
    assert (await client.get(ME, headers=headers)).status_code == 200

    await db_session.execute(update(User).where(User.id == user.id).values(is_active=False))
    response = await client.request(method, ME, headers=headers, json=body)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == INVALID
    stored = await db_session.scalar(select(User.full_name).where(User.id == user.id))
    assert stored == "Before"


async def test_users_me_costs_one_sql_statement(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    user = await make_user()
    headers = auth_headers(user)

    with count_statements() as statements:
        response = await client.get(ME, headers=headers)

    assert response.status_code == 200
    assert len(statements) == 1, statements


@pytest.mark.parametrize("prefix", ["/api/v1", "/erp/v2"])
async def test_the_documented_password_flow_points_at_the_token_route(make_settings, prefix: str) -> None:
    async with serve_in_process(create_app(make_settings(API_V1_PREFIX=prefix))) as client:
        schema = (await client.get("/openapi.json")).json()

    scheme = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["flows"]["password"]["tokenUrl"] == f"{prefix}/auth/token"
    token_route = schema["paths"][f"{prefix}/auth/token"]["post"]
    assert "application/x-www-form-urlencoded" in token_route["requestBody"]["content"]
    assert schema["paths"][f"{prefix}/users/me"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]
