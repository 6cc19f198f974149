"""The login throttle in Redis, shared by replicas, failing open (docs/contract.md §9).

Each test serves apps of its own settings, which commit through their own pools:
its users are committed (``make_committed_user``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY

from erp_api import ApiSettings, create_app
from erp_api.features.identity.throttle import UNAVAILABLE_WARNING
from erp_api_testing import serve_in_process
from erp_core.testing import capture_logs, free_port

from .conftest import MakeUser

TOKEN = "/api/v1/auth/token"
ME = "/api/v1/users/me"
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


# --- under concurrency: at most LOGIN_MAX_FAILURES verifications per email and window ------------


async def test_a_concurrent_burst_of_wrong_passwords_gets_only_max_failures_verifications(
    make_settings: MakeSettings, make_committed_user: MakeUser
) -> None:
    # Every wrong password that is verified answers 401; one refused before
    # any hashing answers 429. Reading the counter before the hash and
    # counting after it let all 20 through.
    user = await make_committed_user(password=PASSWORD)
    settings = make_settings(LOGIN_MAX_FAILURES="5", LOGIN_FAILURE_WINDOW_S="120")
    async with serve_in_process(create_app(settings)) as client:
        answers = await asyncio.gather(
            *(client.post(TOKEN, data=form(user.email, f"wrong password {n}")) for n in range(20))
        )
        after = await client.post(TOKEN, data=form(user.email))

    codes = sorted(answer.status_code for answer in answers)
    assert codes == [401] * 5 + [429] * 15
    assert after.status_code == 429


@pytest.mark.parametrize("trial", range(5))
async def test_the_right_password_in_a_burst_gets_in_only_within_the_limit(
    make_settings: MakeSettings, make_committed_user: MakeUser, trial: int
) -> None:
    # After 4 failures of 5, ten wrong guesses and the right password at once:
    # exactly one more verification happens, whichever request reserves it.
    user = await make_committed_user(password=PASSWORD)
    settings = make_settings(LOGIN_MAX_FAILURES="5", LOGIN_FAILURE_WINDOW_S="120")
    async with serve_in_process(create_app(settings)) as client:
        for n in range(4):
            assert (await client.post(TOKEN, data=form(user.email, f"wrong {n} password"))).status_code == 401
        guesses = [form(user.email, f"another wrong {n}") for n in range(10)]
        guesses.insert(trial * 2, form(user.email))
        answers = await asyncio.gather(*(client.post(TOKEN, data=guess) for guess in guesses))

    codes = [answer.status_code for answer in answers]
    assert codes.count(401) + codes.count(200) == 1
    assert codes.count(429) == 10


async def test_spellings_of_one_canonical_email_share_one_count(
    make_settings: MakeSettings, make_committed_user: MakeUser
) -> None:
    user = await make_committed_user(password=PASSWORD, email=f"Tigris-{uuid.uuid4().hex[:8]}@Example.org")
    settings = make_settings(LOGIN_MAX_FAILURES="2", LOGIN_FAILURE_WINDOW_S="120")
    async with serve_in_process(create_app(settings)) as client:
        await client.post(TOKEN, data=form(user.email.lower(), "wrong password!"))
        await client.post(TOKEN, data=form(user.email.upper(), "wrong password!"))
        throttled = await client.post(TOKEN, data=form(user.email))

    assert throttled.status_code == 429


async def test_a_dotted_capital_i_is_another_address_for_the_throttle_and_the_login(
    make_settings: MakeSettings, make_committed_user: MakeUser
) -> None:
    # PostgreSQL's lower() turns U+0130 into "i", Python's into "i" plus a
    # combining dot: a throttled "tigris" logged in at once as "t\u0130gris".
    # One canonical form for the lookup and the throttle closes that.
    local = f"tigris-{uuid.uuid4().hex[:8]}"
    user = await make_committed_user(password=PASSWORD, email=f"{local}@example.org")
    look_alike = local.replace("i", "\u0130") + "@example.org"
    settings = make_settings(LOGIN_MAX_FAILURES="1", LOGIN_FAILURE_WINDOW_S="120")
    async with serve_in_process(create_app(settings)) as client:
        untouched = await client.post(TOKEN, data=form(look_alike))
        await client.post(TOKEN, data=form(user.email, "wrong password!"))
        throttled = await client.post(TOKEN, data=form(user.email))
        still_refused = await client.post(TOKEN, data=form(look_alike))

    assert untouched.status_code == 401  # no account has that canonical form
    assert throttled.status_code == 429
    assert still_refused.status_code in (401, 429)
    assert still_refused.status_code != 200


async def test_wrong_current_passwords_are_throttled_like_logins(
    make_settings: MakeSettings, make_committed_user: MakeUser
) -> None:
    user = await make_committed_user(password=PASSWORD)
    settings = make_settings(LOGIN_MAX_FAILURES="3", LOGIN_FAILURE_WINDOW_S="120")
    async with serve_in_process(create_app(settings)) as client:
        login = (await client.post(TOKEN, data=form(user.email))).json()
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        guesses = await asyncio.gather(
            *(
                client.patch(
                    ME,
                    json={"password": "a brand new password", "current_password": f"guess number {n}"},
                    headers=headers,
                )
                for n in range(10)
            )
        )
        right = await client.patch(
            ME, json={"password": "a brand new password", "current_password": PASSWORD}, headers=headers
        )
        login_now = await client.post(TOKEN, data=form(user.email))

    codes = sorted(answer.status_code for answer in guesses)
    assert codes == [400] * 3 + [429] * 7
    throttled = next(answer for answer in guesses if answer.status_code == 429)
    assert int(throttled.headers["retry-after"]) >= 1
    assert right.status_code == 429  # one count for logins and password checks alike
    assert login_now.status_code == 429
