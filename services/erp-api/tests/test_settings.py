import pytest

from erp_api import ApiSettings
from erp_core import ConfigurationError
from erp_core.testing import settings_from_env

BASE = {"DATABASE_URL": "postgresql://erp:pw-one@db.internal:5432/erp"}


def test_defaults_follow_the_contract():
    settings = settings_from_env(ApiSettings, BASE)

    assert settings.api_v1_prefix == "/api/v1"
    assert settings.cors_allowed_origins == []
    assert settings.cors_allow_credentials is False
    assert settings.health_check_timeout_s == 2.0
    assert settings.shutdown_timeout_s == 25
    assert settings.max_request_body_bytes == 1_048_576
    assert settings.database.url.get_secret_value().startswith("postgresql+asyncpg://")
    assert settings.redis.url.get_secret_value() == "redis://localhost:6379/0"


def test_every_bad_variable_of_every_part_is_reported_at_once_without_secrets():
    env = {
        "DATABASE_URL": "mysql://root:pw-two@db/erp",
        "DATABASE_POOL_SIZE": "many",
        "REDIS_PORT": "six",
        "REDIS_PASSWORD": "pw-three",
        "APP_CACHE_REDIS_URL": "http://user:pw-four@cache",
        "ENVIRONMENT": "moon",
        "API_V1_PREFIX": "api/v1/",
        "HEALTH_CHECK_TIMEOUT_S": "soon",
        "MAX_REQUEST_BODY_BYTES": "-1",
        "CORS_ALLOWED_ORIGINS": "[not json",
    }

    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(ApiSettings, env)

    assert set(caught.value.problems) == {
        "DATABASE_URL",
        "DATABASE_POOL_SIZE",
        "REDIS_PORT",
        "APP_CACHE_REDIS_URL",
        "ENVIRONMENT",
        "API_V1_PREFIX",
        "HEALTH_CHECK_TIMEOUT_S",
        "MAX_REQUEST_BODY_BYTES",
        "CORS_ALLOWED_ORIGINS",
    }
    for secret in ("pw-two", "pw-three", "pw-four"):
        assert secret not in str(caught.value)


def test_debug_mode_in_production_is_refused():
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(ApiSettings, {**BASE, "ENVIRONMENT": "production", "DEBUG_MODE": "1"})

    assert list(caught.value.problems) == ["DEBUG_MODE"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://a.example, https://b.example:8443", ["https://a.example", "https://b.example:8443"]),
        ('["https://a.example"]', ["https://a.example"]),
        ("", []),
        ("*", ["*"]),
    ],
)
def test_cors_origins_accept_comma_separated_or_json(raw, expected):
    settings = settings_from_env(ApiSettings, {**BASE, "CORS_ALLOWED_ORIGINS": raw})

    assert settings.cors_allowed_origins == expected


def test_credentials_with_a_wildcard_origin_are_refused():
    env = {**BASE, "CORS_ALLOWED_ORIGINS": "*", "CORS_ALLOW_CREDENTIALS": "true"}

    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(ApiSettings, env)

    assert list(caught.value.problems) == ["CORS_ALLOW_CREDENTIALS"]


def test_an_origin_with_a_path_is_refused():
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(ApiSettings, {**BASE, "CORS_ALLOWED_ORIGINS": "https://a.example/app"})

    assert list(caught.value.problems) == ["CORS_ALLOWED_ORIGINS"]


def test_missing_database_url_is_named():
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(ApiSettings, {})

    assert list(caught.value.problems) == ["DATABASE_URL"]


def test_repr_hides_every_secret():
    env = {**BASE, "REDIS_PASSWORD": "pw-five", "APP_CACHE_REDIS_URL": "redis://:pw-six@cache:6379/1"}
    settings = settings_from_env(ApiSettings, env)

    for secret in ("pw-one", "pw-five", "pw-six"):
        assert secret not in repr(settings)
        assert secret not in str(settings)
