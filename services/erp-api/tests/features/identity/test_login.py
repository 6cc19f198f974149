"""POST /auth/token: the OAuth2 password grant (docs/contract.md §9)."""

from __future__ import annotations

import os
import threading

import httpx
import jwt
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api import ApiSettings
from erp_api.features.identity import passwords
from erp_api_testing.identity import unique_email
from erp_db import User

from .conftest import MakeUser

TOKEN = "/api/v1/auth/token"
PASSWORD = "correct horse battery staple"


def login_form(email: str, password: str = PASSWORD) -> dict[str, str]:
    return {"username": email, "password": password}


async def test_a_login_answers_a_bearer_pair_with_the_claims_of_the_contract(
    client: httpx.AsyncClient, make_user: MakeUser, erp_api_settings: ApiSettings
) -> None:
    user = await make_user(password=PASSWORD)

    response = await client.post(TOKEN, data=login_form(user.email))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == erp_api_settings.access_token_ttl_s == 900
    assert len(body["refresh_token"]) >= 43  # 256 random bits, base64url
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "HS256"
    assert erp_api_settings.jwt_secret_key is not None
    claims = jwt.decode(
        body["access_token"],
        erp_api_settings.jwt_secret_key.get_secret_value(),
        algorithms=["HS256"],
        issuer=erp_api_settings.app_name,
    )
    assert set(claims) == {"sub", "iat", "exp", "jti", "iss"}
    assert claims["sub"] == str(user.id)
    assert claims["exp"] - claims["iat"] == 900


async def test_the_email_is_matched_whatever_its_letter_case(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(password=PASSWORD)

    response = await client.post(TOKEN, data=login_form(user.email.upper()))

    assert response.status_code == 200


async def test_wrong_password_unknown_email_and_inactive_user_get_the_same_401(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    active = await make_user(password=PASSWORD)
    inactive = await make_user(password=PASSWORD, is_active=False)

    answers = [
        await client.post(TOKEN, data=login_form(active.email, "wrong password here")),
        await client.post(TOKEN, data=login_form("nobody-" + active.email)),
        await client.post(TOKEN, data=login_form(inactive.email)),
    ]

    for answer in answers:
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"] == "Bearer"
    bodies = [{k: v for k, v in a.json().items() if k not in ("request_id",)} for a in answers]
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["title"] == "Unauthorized"


async def test_an_unknown_email_costs_a_password_verification_too(
    client: httpx.AsyncClient, monkeypatch
) -> None:
    verified: list[str] = []
    real_verify = Argon2Hasher.verify

    def counting_verify(self: Argon2Hasher, password: str | bytes, hash: str | bytes) -> bool:
        verified.append("x")
        return real_verify(self, password, hash)

    monkeypatch.setattr(Argon2Hasher, "verify", counting_verify)

    response = await client.post(TOKEN, data=login_form(unique_email("nobody")))

    assert response.status_code == 401
    assert len(verified) == 1


async def test_a_hash_with_outdated_parameters_is_replaced_on_login(
    client: httpx.AsyncClient, make_user: MakeUser, db_session: AsyncSession
) -> None:
    user = await make_user()
    old_hash = Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    await db_session.execute(update(User).where(User.id == user.id).values(password_hash=old_hash))

    response = await client.post(TOKEN, data=login_form(user.email))

    assert response.status_code == 200
    new_hash = await db_session.scalar(select(User.password_hash).where(User.id == user.id))
    assert new_hash is not None
    assert new_hash != old_hash
    assert new_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert (await client.post(TOKEN, data=login_form(user.email))).status_code == 200


async def test_new_hashes_are_argon2id() -> None:
    assert (await passwords.hash_password(PASSWORD)).startswith("$argon2id$")


async def test_hashing_runs_on_threads_of_lower_priority_than_the_event_loop() -> None:
    def own_niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    assert await passwords._off_the_loop(own_niceness) >= passwords.HASHING_NICENESS
    assert own_niceness() < passwords.HASHING_NICENESS  # the loop's thread keeps its priority
