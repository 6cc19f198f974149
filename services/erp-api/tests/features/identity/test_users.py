"""GET/PATCH /users/me, POST /users, GET /users/{id} (docs/contract.md §9)."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api_testing.identity import unique_email
from erp_api_testing.organizations import Caller, OrganizationsApi
from erp_db import RefreshToken, User, canonical_email

from .conftest import AuthHeaders, MakeUser

ME, USERS, TOKEN = "/api/v1/users/me", "/api/v1/users", "/api/v1/auth/token"
PASSWORD = "correct horse battery staple"


async def test_me_answers_the_profile_of_the_contract(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    user = await make_user(full_name="Ada Lovelace")

    response = await client.get(ME, headers=auth_headers(user))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "email", "full_name", "is_superuser", "created_at"}
    assert body["id"] == str(user.id)
    assert body["email"] == user.email
    assert body["full_name"] == "Ada Lovelace"
    assert body["is_superuser"] is False
    assert body["created_at"].endswith(("Z", "+00:00"))


async def test_patch_changes_the_name(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    user = await make_user()

    response = await client.patch(ME, json={"full_name": "Grace Hopper"}, headers=auth_headers(user))

    assert response.status_code == 200
    assert response.json()["full_name"] == "Grace Hopper"
    assert (await client.get(ME, headers=auth_headers(user))).json()["full_name"] == "Grace Hopper"


async def test_a_password_change_needs_the_current_one_and_revokes_every_refresh_token(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: AuthHeaders, db_session: AsyncSession
) -> None:
    user = await make_user(password=PASSWORD)
    pair = (await client.post(TOKEN, data={"username": user.email, "password": PASSWORD})).json()
    headers = auth_headers(user)
    new = "a brand new passphrase"

    missing = await client.patch(ME, json={"password": new}, headers=headers)
    wrong = await client.patch(
        ME, json={"password": new, "current_password": "not it at all"}, headers=headers
    )
    assert [missing.status_code, wrong.status_code] == [400, 400]
    assert wrong.json()["title"] == "Bad Request"
    assert "not it at all" not in wrong.text

    changed = await client.patch(ME, json={"password": new, "current_password": PASSWORD}, headers=headers)

    assert changed.status_code == 200
    assert new not in changed.text
    assert (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    ).status_code == 401
    tokens = await db_session.scalar(
        select(func.count()).select_from(RefreshToken).where(RefreshToken.user_id == user.id)
    )
    live = await db_session.scalar(
        select(func.count())
        .select_from(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
    )
    assert (tokens, live) == (1, 0)
    assert (await client.post(TOKEN, data={"username": user.email, "password": PASSWORD})).status_code == 401
    assert (await client.post(TOKEN, data={"username": user.email, "password": new})).status_code == 200


async def test_patch_refuses_bad_input_without_echoing_it(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    user = await make_user()
    headers = auth_headers(user)

    for body in (
        {"password": "short", "current_password": "whatever1"},
        {"password": "p" * 129, "current_password": "whatever1"},
        {"full_name": "n" * 201},
        {"is_superuser": True},
        {"email": "new@example.org"},
    ):
        response = await client.patch(ME, json=body, headers=headers)
        assert response.status_code == 422, body
        assert "p" * 129 not in response.text
        assert "whatever1" not in response.text


async def test_only_a_superuser_creates_users(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    plain = await make_user()
    body = {"email": unique_email(), "full_name": "New", "password": PASSWORD, "is_superuser": False}

    response = await client.post(USERS, json=body, headers=auth_headers(plain))

    assert response.status_code == 403
    assert response.json()["title"] == "Forbidden"
    assert (await client.post(USERS, json=body)).status_code == 401


async def test_a_superuser_creates_a_user_who_can_log_in(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    admin = await make_user(is_superuser=True)
    email = unique_email("new")
    body = {"email": email, "full_name": "New Person", "password": PASSWORD, "is_superuser": False}

    response = await client.post(USERS, json=body, headers=auth_headers(admin))

    assert response.status_code == 201
    created = response.json()
    assert set(created) == {"id", "email", "full_name", "is_superuser", "created_at"}
    assert PASSWORD not in response.text
    assert response.headers["location"] == f"{USERS}/{created['id']}"
    assert (await client.get(response.headers["location"], headers=auth_headers(admin))).json() == created
    assert (await client.post(TOKEN, data={"username": email, "password": PASSWORD})).status_code == 200


async def test_a_taken_email_in_any_letter_case_is_409(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    admin = await make_user(is_superuser=True)
    existing = await make_user()

    response = await client.post(
        USERS, json={"email": existing.email.upper(), "password": PASSWORD}, headers=auth_headers(admin)
    )

    assert response.status_code == 409
    assert response.json()["title"] == "Conflict"
    assert response.json()["errors"][0]["loc"] == ["body", "email"]
    assert existing.email.upper() not in response.text


async def test_create_refuses_bad_input_with_422(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    admin = await make_user(is_superuser=True)
    headers = auth_headers(admin)

    for body in (
        {"email": "not-an-email", "password": PASSWORD},
        {"email": unique_email(), "password": "short"},
        {"email": unique_email(), "password": "x" * 129},
        {"email": unique_email()},
        {"email": unique_email(), "password": PASSWORD, "role": "god"},
    ):
        response = await client.post(USERS, json=body, headers=headers)
        assert response.status_code == 422, body
        assert "not-an-email" not in response.text


async def test_an_unknown_user_id_is_404_for_a_superuser(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    admin = await make_user(is_superuser=True)

    response = await client.get(f"{USERS}/00000000-0000-0000-0000-000000000000", headers=auth_headers(admin))

    assert response.status_code == 404


async def test_the_plugins_authenticated_client_acts_as_its_signed_in_user(
    authenticated_client: httpx.AsyncClient, signed_in_user: User
) -> None:
    me = await authenticated_client.get(ME)
    anonymous = await authenticated_client.get(ME, headers={"Authorization": ""})

    assert me.status_code == 200
    assert me.json()["id"] == str(signed_in_user.id)
    assert anonymous.status_code == 401


async def test_a_superuser_administers_users_but_sees_no_organisation(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    owner, admin = await make_user(), await make_user(is_superuser=True)
    api = OrganizationsApi(client)
    organization = await api.create_organization(Caller(owner.id, owner.email, auth_headers(owner)))

    read = await client.get(f"/api/v1/organizations/{organization['id']}", headers=auth_headers(admin))
    listed = await client.get("/api/v1/organizations", headers=auth_headers(admin))

    assert read.status_code == 404
    assert listed.json()["items"] == []


async def test_a_nul_character_in_a_name_is_422_not_500(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    admin = await make_user(is_superuser=True)
    headers = auth_headers(admin)

    patched = await client.patch(ME, json={"full_name": "a\u0000b"}, headers=headers)
    created = await client.post(
        USERS, json={"email": unique_email(), "password": PASSWORD, "full_name": "a\u0000b"}, headers=headers
    )

    for response in (patched, created):
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "full_name"]


async def test_the_canonical_email_is_unique_and_stored_beside_the_typed_one(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: AuthHeaders, db_session: AsyncSession
) -> None:
    admin = await make_user(is_superuser=True)
    local = f"Stra\u00dfe-{uuid.uuid4().hex[:8]}"
    first = await client.post(
        USERS, json={"email": f"{local}@Example.org", "password": PASSWORD}, headers=auth_headers(admin)
    )
    # Full case folding: "\u00df" is "ss", and the domain's case never matters.
    second = await client.post(
        USERS,
        json={"email": local.replace("\u00df", "SS") + "@EXAMPLE.ORG", "password": PASSWORD},
        headers=auth_headers(admin),
    )

    assert first.status_code == 201
    assert second.status_code == 409
    stored = await db_session.scalar(
        select(User.email_canonical).where(User.id == uuid.UUID(first.json()["id"]))
    )
    assert (
        stored
        == canonical_email(f"{local}@Example.org")
        == local.lower().replace("\u00df", "ss") + "@example.org"
    )
