"""POST /auth/refresh and /auth/logout: rotation, reuse detection, revocation (docs/contract.md §9)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from erp_api.features.identity import refresh_tokens
from erp_api.features.identity.tokens import issue_access_token, signing_key
from erp_api.settings import ApiSettings
from erp_db import RefreshToken, User

from .conftest import AuthHeaders, MakeUser

TOKEN, REFRESH, LOGOUT = "/api/v1/auth/token", "/api/v1/auth/refresh", "/api/v1/auth/logout"
PASSWORD = "correct horse battery staple"
INVALID = 'Bearer error="invalid_token"'


async def login(client: httpx.AsyncClient, user: User) -> dict[str, Any]:
    response = await client.post(TOKEN, data={"username": user.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    pair: dict[str, Any] = response.json()
    return pair


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": token})


@pytest.fixture
async def user(make_user: MakeUser) -> User:
    return await make_user(password=PASSWORD)


async def test_a_refresh_answers_a_new_pair_and_spends_the_old_token(
    client: httpx.AsyncClient, user: User
) -> None:
    first = await login(client, user)

    response = await refresh(client, first["refresh_token"])

    assert response.status_code == 200
    second = response.json()
    assert set(second) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert second["refresh_token"] != first["refresh_token"]
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert me.json()["id"] == str(user.id)
    assert (await refresh(client, second["refresh_token"])).status_code == 200


async def test_only_the_hash_is_stored(
    client: httpx.AsyncClient, user: User, db_session: AsyncSession
) -> None:
    pair = await login(client, user)

    rows = (
        (await db_session.execute(text("SELECT row_to_json(r)::text FROM refresh_tokens r"))).scalars().all()
    )
    stored = await db_session.scalar(select(RefreshToken.token_hash).where(RefreshToken.user_id == user.id))
    assert stored == hashlib.sha256(pair["refresh_token"].encode()).digest()
    assert not any(pair["refresh_token"] in row for row in rows)


async def test_reusing_a_spent_token_is_401_and_revokes_the_whole_family(
    client: httpx.AsyncClient, user: User
) -> None:
    first = await login(client, user)
    other_login = await login(client, user)  # another device: another family
    second = (await refresh(client, first["refresh_token"])).json()

    reuse = await refresh(client, first["refresh_token"])

    assert reuse.status_code == 401
    assert reuse.headers["www-authenticate"] == INVALID
    assert first["refresh_token"] not in reuse.text
    assert (await refresh(client, second["refresh_token"])).status_code == 401  # the family is gone
    assert (await refresh(client, other_login["refresh_token"])).status_code == 200  # other families live


async def test_of_two_concurrent_refreshes_with_one_token_exactly_one_succeeds(
    committing_client: httpx.AsyncClient, make_committed_user: MakeUser
) -> None:
    # A real race: two requests on two pooled connections, each committing.
    pair = await login(committing_client, await make_committed_user(password=PASSWORD))

    answers = await asyncio.gather(*(refresh(committing_client, pair["refresh_token"]) for _ in range(2)))

    assert sorted(answer.status_code for answer in answers) == [200, 401]


async def test_the_conditional_update_lets_one_of_two_connections_spend_a_token(
    make_committed_user: MakeUser, erp_db_engine: AsyncEngine
) -> None:
    """The same race without HTTP: two sessions on two connections, the first holding its transaction."""
    owner = await make_committed_user()
    async with AsyncSession(erp_db_engine) as session:
        raw = await refresh_tokens.issue_refresh_token(
            session, user_id=owner.id, family_id=uuid.uuid4(), ttl_s=60
        )
        await session.commit()

    first_spent = asyncio.Event()
    outcomes: list[str] = []

    async def first() -> None:
        async with AsyncSession(erp_db_engine) as session:
            await refresh_tokens.spend_refresh_token(session, raw)
            first_spent.set()
            await asyncio.sleep(0.3)  # the second UPDATE now waits on the row lock
            await session.commit()
            outcomes.append("spent")

    async def second() -> None:
        await first_spent.wait()
        async with AsyncSession(erp_db_engine) as session:
            try:
                await refresh_tokens.spend_refresh_token(session, raw)
                outcomes.append("spent")
            except refresh_tokens.RefreshRefused as refused:
                outcomes.append(refused.reason.value)
            await session.commit()

    await asyncio.gather(first(), second())

    assert sorted(outcomes) == ["reused", "spent"]


async def test_unknown_expired_and_malformed_refresh_tokens_get_problem_answers(
    client: httpx.AsyncClient, user: User, db_session: AsyncSession
) -> None:
    pair = await login(client, user)
    await db_session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id)
        .values(expires_at=text("now() - interval '1 second'"))
    )

    expired = await refresh(client, pair["refresh_token"])
    unknown = await refresh(client, "x" * 43)
    assert [expired.status_code, unknown.status_code] == [401, 401]

    for body in ({}, {"refresh_token": ""}, {"refresh_token": "x" * 10_000}, {"refresh_token": 5}, [], "x"):
        response = await client.post(REFRESH, json=body)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
        assert "x" * 100 not in response.text
    garbage = await client.post(REFRESH, content=b"{not json", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 422


async def test_a_deactivated_user_cannot_refresh(
    client: httpx.AsyncClient, user: User, db_session: AsyncSession
) -> None:
    pair = await login(client, user)
    await db_session.execute(update(User).where(User.id == user.id).values(is_active=False))

    assert (await refresh(client, pair["refresh_token"])).status_code == 401


async def test_logout_revokes_the_family_and_is_idempotent(
    client: httpx.AsyncClient, user: User, auth_headers: AuthHeaders
) -> None:
    pair = await login(client, user)
    rotated = (await refresh(client, pair["refresh_token"])).json()
    headers = auth_headers(user)

    first = await client.post(LOGOUT, json={"refresh_token": rotated["refresh_token"]}, headers=headers)
    again = await client.post(LOGOUT, json={"refresh_token": rotated["refresh_token"]}, headers=headers)
    unknown = await client.post(LOGOUT, json={"refresh_token": "y" * 43}, headers=headers)

    assert [first.status_code, again.status_code, unknown.status_code] == [204, 204, 204]
    assert first.content == b""
    assert (await refresh(client, rotated["refresh_token"])).status_code == 401


async def test_logout_needs_only_the_refresh_token_and_refuses_another_users(
    client: httpx.AsyncClient, user: User, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    pair = await login(client, user)
    kept = await login(client, user)
    someone_else = await make_user()

    foreign = await client.post(
        LOGOUT, json={"refresh_token": pair["refresh_token"]}, headers=auth_headers(someone_else)
    )
    assert foreign.status_code == 403
    assert foreign.json()["title"] == "Forbidden"
    assert pair["refresh_token"] not in foreign.text
    assert (await refresh(client, pair["refresh_token"])).status_code == 200  # the family stayed

    pair = await login(client, user)
    anonymous = await client.post(LOGOUT, json={"refresh_token": pair["refresh_token"]})

    assert anonymous.status_code == 204
    assert (await refresh(client, pair["refresh_token"])).status_code == 401
    assert (await refresh(client, kept["refresh_token"])).status_code == 200  # another family stays


@pytest.mark.parametrize("access_token", ["expired", "forged"])
async def test_logout_with_an_expired_or_forged_access_token_still_revokes_the_family(
    client: httpx.AsyncClient, user: User, erp_api_settings: ApiSettings, access_token: str
) -> None:
    # The refresh token is the credential (docs/contract.md §9): an access
    # token that is no longer valid counts as none, and must not keep the
    # family alive.
    pair = await login(client, user)
    if access_token == "expired":
        token = issue_access_token(
            user.id, key=signing_key(erp_api_settings), issuer=erp_api_settings.app_name, ttl_s=-60
        )
    else:
        token = "x.y.z"

    response = await client.post(
        LOGOUT, json={"refresh_token": pair["refresh_token"]}, headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 204
    assert (await refresh(client, pair["refresh_token"])).status_code == 401


# --- races within one family: serialised by the owner's token lock -------------------------------


async def live_tokens_of_family(engine: AsyncEngine, raw: str) -> int:
    async with engine.connect() as connection:
        family_id = await connection.scalar(
            select(RefreshToken.family_id).where(
                RefreshToken.token_hash == hashlib.sha256(raw.encode()).digest()
            )
        )
        live = await connection.scalar(
            text("SELECT count(*) FROM refresh_tokens WHERE family_id = :f AND revoked_at IS NULL"),
            {"f": family_id},
        )
    return int(live or 0)


@pytest.fixture
async def spent_and_live(
    committing_client: httpx.AsyncClient, make_committed_user: MakeUser
) -> tuple[str, str]:
    """A family of two: R1 spent for R2, both committed, R2 live."""
    first = await login(committing_client, await make_committed_user(password=PASSWORD))
    second = (await refresh(committing_client, first["refresh_token"])).json()
    return first["refresh_token"], second["refresh_token"]


@pytest.mark.parametrize("trial", range(10))
async def test_a_reuse_racing_a_rotation_leaves_no_token_of_the_family_alive(
    committing_client: httpx.AsyncClient,
    spent_and_live: tuple[str, str],
    erp_db_engine: AsyncEngine,
    trial: int,
) -> None:
    # R1 spent for R2; then R1 (a reuse) and R2 (a rotation) at the same
    # moment. The reuse's revocation used to miss the R3 that the rotation
    # was inserting, and R3 kept working.
    racers = [refresh(committing_client, token) for token in spent_and_live]
    if trial % 2:
        racers.reverse()

    answers = await asyncio.gather(*racers)

    assert all(answer.status_code in (200, 401) for answer in answers)
    for answer in answers:
        if answer.status_code == 200:
            assert (await refresh(committing_client, answer.json()["refresh_token"])).status_code == 401
    assert await live_tokens_of_family(erp_db_engine, spent_and_live[0]) == 0


@pytest.mark.parametrize("trial", range(8))
async def test_concurrent_refreshes_in_one_family_answer_401_or_one_200_never_5xx(
    committing_client: httpx.AsyncClient,
    spent_and_live: tuple[str, str],
    erp_db_engine: AsyncEngine,
    trial: int,
) -> None:
    # Four copies of a spent token and four of its live successor at once
    # deadlocked (500s, and possibly a lost revocation) before the lock.
    tokens = list(spent_and_live) * 4

    answers = await asyncio.gather(*(refresh(committing_client, token) for token in tokens))

    codes = [answer.status_code for answer in answers]
    assert set(codes) <= {200, 401}, codes
    assert codes.count(200) <= 1
    assert await live_tokens_of_family(erp_db_engine, spent_and_live[0]) == 0


async def test_a_password_change_racing_a_rotation_leaves_no_refresh_token_alive(
    committing_client: httpx.AsyncClient, make_committed_user: MakeUser, erp_db_engine: AsyncEngine
) -> None:
    user = await make_committed_user(password=PASSWORD)
    pair = await login(committing_client, user)
    change = committing_client.patch(
        "/api/v1/users/me",
        json={"password": "another good password", "current_password": PASSWORD},
        headers={"Authorization": f"Bearer {pair['access_token']}"},
    )

    changed, rotated = await asyncio.gather(change, refresh(committing_client, pair["refresh_token"]))

    assert changed.status_code == 200
    if rotated.status_code == 200:
        assert (await refresh(committing_client, rotated.json()["refresh_token"])).status_code == 401
    assert await live_tokens_of_family(erp_db_engine, pair["refresh_token"]) == 0
