"""The login throttle in Redis, shared by replicas, failing open (docs/contract.md §9).

Each test serves apps of its own settings, which commit through their own pools:
its users are committed (``make_committed_user``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import REGISTRY

from erp_api import ApiSettings, create_app
from erp_api.features.identity.throttle import UNAVAILABLE_WARNING
from erp_api.testing import serve_in_process
from erp_core.testing import capture_logs, free_port

from .conftest import MakeUser

TOKEN = "/api/v1/auth/token"
PASSWORD = "correct horse battery staple"
MakeSettings = Callable[..., ApiSettings]


def form(email: str, password: str = PASSWORD) -> dict[str, str]:
    return {"username": email, "password": password}


async def test_after_max_failures_even_the_right_password_is_429_with_retry_after(
    make_settings: MakeSettings, make_committed_user: MakeUser
) -> None:
    user = await make_committed_user(password=PASSWORD)
    settings = make_settings(LOGIN_MAX_FAILURES="3", LOGIN_FAILURE_WINDOW_S="120")
    async with serve_in_process(create_app(settings)) as client:
        failures = [await client.post(TOKEN, data=form(user.email, "wrong password!")) for _ in range(3)]
        throttled = await client.post(TOKEN, data=form(user.email.upper()))

    assert [answer.status_code for answer in failures] == [401, 401, 401]
    assert throttled.status_code == 429
    assert throttled.json()["title"] == "Too Many Requests"
    assert 1 <= int(throttled.headers["retry-after"]) <= 120


async def test_the_counts_are_shared_by_replicas_and_per_email(
    make_settings: MakeSettings, make_committed_user: MakeUser
) -> None:
    user, other = await make_committed_user(password=PASSWORD), await make_committed_user(password=PASSWORD)
    settings = make_settings(LOGIN_MAX_FAILURES="2", LOGIN_FAILURE_WINDOW_S="120")
    async with serve_in_process(create_app(settings)) as one, serve_in_process(create_app(settings)) as two:
        await one.post(TOKEN, data=form(user.email, "wrong password!"))
        await two.post(TOKEN, data=form(user.email, "wrong password!"))

        assert (await one.post(TOKEN, data=form(user.email))).status_code == 429
        assert (await two.post(TOKEN, data=form(user.email))).status_code == 429
        assert (await two.post(TOKEN, data=form(other.email))).status_code == 200


async def test_logins_work_again_once_the_window_has_passed(
    make_settings: MakeSettings, make_committed_user: MakeUser
) -> None:
    user = await make_committed_user(password=PASSWORD)
    settings = make_settings(LOGIN_MAX_FAILURES="1", LOGIN_FAILURE_WINDOW_S="1")
    async with serve_in_process(create_app(settings)) as client:
        await client.post(TOKEN, data=form(user.email, "wrong password!"))
        assert (await client.post(TOKEN, data=form(user.email))).status_code == 429
        await asyncio.sleep(1.5)

        assert (await client.post(TOKEN, data=form(user.email))).status_code == 200


async def test_with_redis_down_logins_go_on_with_one_warning_each(
    make_settings: MakeSettings, make_committed_user: MakeUser
) -> None:
    user = await make_committed_user(password=PASSWORD)
    settings = make_settings(APP_CACHE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", LOGIN_MAX_FAILURES="1")
    app = create_app(settings)
    async with serve_in_process(app) as client:
        with capture_logs() as logs:
            wrong = [await client.post(TOKEN, data=form(user.email, "wrong password!")) for _ in range(2)]
            right = await client.post(TOKEN, data=form(user.email))

    assert [answer.status_code for answer in wrong] == [401, 401]
    assert right.status_code == 200
    warnings = [r for r in logs.records if r["message"] == UNAVAILABLE_WARNING]
    assert len(warnings) == 3
    assert all(record["level"] == "WARNING" for record in warnings)


async def test_each_login_is_counted_by_outcome(
    make_settings: MakeSettings, make_committed_user: MakeUser
) -> None:
    def count(outcome: str) -> float:
        return REGISTRY.get_sample_value("logins_total", {"outcome": outcome}) or 0.0

    user = await make_committed_user(password=PASSWORD)
    before = {outcome: count(outcome) for outcome in ("success", "failure", "throttled")}
    settings = make_settings(LOGIN_MAX_FAILURES="1", LOGIN_FAILURE_WINDOW_S="60")
    async with serve_in_process(create_app(settings)) as client:
        await client.post(TOKEN, data=form(user.email))
        await client.post(TOKEN, data=form(user.email, "wrong password!"))
        await client.post(TOKEN, data=form(user.email))

    after = {outcome: count(outcome) for outcome in ("success", "failure", "throttled")}
    assert {outcome: after[outcome] - before[outcome] for outcome in after} == {
        "success": 1,
        "failure": 1,
        "throttled": 1,
    }
