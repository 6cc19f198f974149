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
        settings_from_env(
            ApiSettings,
            {**BASE, "ENVIRONMENT": "production", "DEBUG_MODE": "1", "JWT_SECRET_KEY": "k" * 32},
        )

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


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SHUTDOWN_TIMEOUT_S", "inf"),
        ("SHUTDOWN_TIMEOUT_S", "1e400"),
        ("SHUTDOWN_TIMEOUT_S", "nan"),
        ("SHUTDOWN_TIMEOUT_S", "3601"),
        ("HEALTH_CHECK_TIMEOUT_S", "inf"),
        ("MAX_REQUEST_BODY_BYTES", "1e400"),
        ("MAX_REQUEST_BODY_BYTES", str(2**31)),
        ("DATABASE_POOL_TIMEOUT_S", "inf"),
    ],
)
def test_every_duration_and_size_is_finite_and_bounded(variable, value):
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(ApiSettings, {**BASE, variable: value})

    assert list(caught.value.problems) == [variable]


@pytest.mark.parametrize("variable", ["DATABASE", "REDIS", "database", "Redis"])
def test_unrelated_variables_named_like_a_settings_part_are_ignored(variable):
    settings = settings_from_env(
        ApiSettings, {**BASE, variable: "primary", "DATABASE_PORT": "tcp://10.0.0.2:5432"}
    )

    assert settings.database.safe_url == "postgresql+asyncpg://erp:***@db.internal:5432/erp"


def test_kubernetes_service_link_variables_do_not_stop_the_service():
    # What enableServiceLinks injects for Services named `redis` and `database`.
    links = {
        "REDIS_PORT": "tcp://10.0.0.3:6379",
        "REDIS_PORT_6379_TCP": "tcp://10.0.0.3:6379",
        "REDIS_SERVICE_HOST": "10.0.0.3",
        "REDIS_SERVICE_PORT": "6379",
        "DATABASE_PORT": "tcp://10.0.0.4:5432",
        "DATABASE_SERVICE_HOST": "10.0.0.4",
        "METRICS_PORT": "tcp://10.0.0.5:9090",  # a Service named `metrics`
    }
    settings = settings_from_env(ApiSettings, {**BASE, **links, "REDIS_HOST": "redis"})

    assert settings.redis.url.get_secret_value() == "redis://redis:6379/0"
    assert settings.metrics_port == 9464


def test_an_upper_case_cors_origin_is_normalised_to_what_browsers_send():
    settings = settings_from_env(
        ApiSettings, {**BASE, "CORS_ALLOWED_ORIGINS": "HTTPS://App.Example.COM:8443,*"}
    )

    assert settings.cors_allowed_origins == ["https://app.example.com:8443", "*"]


def test_empty_variables_count_as_unset():
    settings = settings_from_env(ApiSettings, {**BASE, "CORS_ALLOWED_ORIGINS": "", "SHUTDOWN_TIMEOUT_S": ""})

    assert (settings.cors_allowed_origins, settings.shutdown_timeout_s) == ([], 25)
