"""The identity variables of docs/contract.md §2: JWT_SECRET_KEY, token lifetimes, the throttle."""

from __future__ import annotations

import pytest

from erp_api import ApiSettings
from erp_api.features.identity import tokens
from erp_core import ConfigurationError
from erp_core.testing import capture_logs, settings_from_env

BASE = {"DATABASE_URL": "postgresql://erp@db.internal:5432/erp"}
KEY = "a-jwt-secret-key-of-at-least-32-bytes-long"


def test_defaults_follow_the_contract() -> None:
    settings = settings_from_env(ApiSettings, BASE)

    assert settings.jwt_secret_key is None
    assert settings.access_token_ttl_s == 900
    assert settings.refresh_token_ttl_s == 2_592_000
    assert settings.login_max_failures == 5
    assert settings.login_failure_window_s == 900


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_a_deployed_environment_needs_a_key(environment: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(ApiSettings, {**BASE, "ENVIRONMENT": environment})

    assert list(caught.value.problems) == ["JWT_SECRET_KEY"]
    assert settings_from_env(ApiSettings, {**BASE, "ENVIRONMENT": environment, "JWT_SECRET_KEY": KEY})


def test_a_short_key_is_refused_without_being_shown() -> None:
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(ApiSettings, {**BASE, "JWT_SECRET_KEY": "short-secret-31-bytes-long-xxxx"})

    assert list(caught.value.problems) == ["JWT_SECRET_KEY"]
    assert "short-secret" not in str(caught.value)


def test_the_key_is_kept_out_of_repr() -> None:
    settings = settings_from_env(ApiSettings, {**BASE, "JWT_SECRET_KEY": KEY})

    assert KEY not in repr(settings)
    assert KEY not in str(settings.model_dump())


def test_bad_lifetimes_and_limits_are_named() -> None:
    env = {
        **BASE,
        "ACCESS_TOKEN_TTL_S": "0",
        "REFRESH_TOKEN_TTL_S": "soon",
        "LOGIN_MAX_FAILURES": "-1",
        "LOGIN_FAILURE_WINDOW_S": "1e9",
    }
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(ApiSettings, env)

    assert set(caught.value.problems) == {
        "ACCESS_TOKEN_TTL_S",
        "REFRESH_TOKEN_TTL_S",
        "LOGIN_MAX_FAILURES",
        "LOGIN_FAILURE_WINDOW_S",
    }


def test_without_a_key_the_process_makes_one_and_warns_once() -> None:
    settings = settings_from_env(ApiSettings, BASE)
    tokens._process_key.cache_clear()

    with capture_logs() as logs:
        first, second = tokens.signing_key(settings), tokens.signing_key(settings)

    assert first == second
    assert len(first) == 32
    warnings = [record for record in logs.records if record["logger"] == tokens.__name__]
    assert len(warnings) == 1
    assert warnings[0]["level"] == "WARNING"
    assert "JWT_SECRET_KEY" in warnings[0]["message"]
