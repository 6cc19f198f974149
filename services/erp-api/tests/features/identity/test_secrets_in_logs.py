"""Passwords, hashes, tokens and the Authorization header never reach a log line (docs/contract.md §9).

Checked with everything turned up: DEBUG_MODE (SQL statements logged) and
LOG_LEVEL=DEBUG, through a whole session of a user: login, a bad login,
/users/me, a forged token, refresh, token reuse, password change, logout.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from erp_api import ApiSettings, create_app
from erp_api_testing import serve_in_process
from erp_core.testing import capture_logs
from erp_db import User

from .conftest import MakeUser

API = "/api/v1"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "an entirely new passphrase"


async def test_no_secret_reaches_a_log_line_even_in_debug_mode(
    make_settings: Callable[..., ApiSettings], make_committed_user: MakeUser, erp_db_engine: AsyncEngine
) -> None:
    user = await make_committed_user(password=PASSWORD)  # the app below commits through its own pool
    app = create_app(make_settings(DEBUG_MODE="true", LOG_LEVEL="DEBUG"))
    secrets: list[str] = [PASSWORD, NEW_PASSWORD, "wrong password!"]

    async with serve_in_process(app) as client:
        with capture_logs() as logs:
            await client.post(
                f"{API}/auth/token", data={"username": user.email, "password": "wrong password!"}
            )
            pair = (
                await client.post(f"{API}/auth/token", data={"username": user.email, "password": PASSWORD})
            ).json()
            bearer = {"Authorization": f"Bearer {pair['access_token']}"}
            await client.get(f"{API}/users/me", headers=bearer)
            await client.get(f"{API}/users/me", headers={"Authorization": "Bearer forged.token.value"})
            rotated = (
                await client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
            ).json()
            await client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})  # reuse
            await client.patch(
                f"{API}/users/me",
                json={"password": NEW_PASSWORD, "current_password": PASSWORD},
                headers=bearer,
            )
            await client.post(
                f"{API}/auth/logout", json={"refresh_token": rotated["refresh_token"]}, headers=bearer
            )
            # Bad input: a secret-looking username, an over-long password, a 10 kB token.
            await client.post(f"{API}/auth/token", data={"username": "hunter2-not-an-email", "password": "x"})
            await client.post(
                f"{API}/auth/token", data={"username": user.email, "password": "overlong!" * 20}
            )
            await client.get(f"{API}/users/me", headers={"Authorization": "Bearer " + "T0KEN" * 2048})

    async with erp_db_engine.connect() as connection:
        password_hash = await connection.scalar(select(User.password_hash).where(User.id == user.id))
    assert password_hash is not None
    for token in (
        pair["access_token"],
        pair["refresh_token"],
        rotated["access_token"],
        rotated["refresh_token"],
    ):
        secrets += [
            token,
            hashlib.sha256(token.encode()).hexdigest(),
            repr(hashlib.sha256(token.encode()).digest()),
        ]
    secrets += [password_hash, password_hash.split("$")[-1], "forged.token.value", "Bearer "]
    secrets += ["hunter2", "overlong!", "T0KEN"]

    text = "\n".join(logs.lines)
    assert "SELECT" in text  # SQL logging was on, so the check means something
    assert "UPDATE users SET password_hash" in text
    for secret in secrets:
        assert secret not in text, secret[:12]
