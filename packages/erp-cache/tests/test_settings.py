"""RedisSettings: the variables of docs/contract.md §2, and secrets kept out of sight."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
from pydantic import SecretStr

from erp_cache.settings import RedisSettings
from erp_core import ConfigurationError
from erp_core.testing import environment, settings_from_env

PASSWORD = "p@ss:w/rd%?#&s3cret"


def load(**env: str) -> RedisSettings:
    return settings_from_env(RedisSettings, env)


def configuration_error(**env: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        load(**env)
    return caught.value


def test_defaults_point_at_localhost_db_0() -> None:
    settings = load()

    assert settings.url.get_secret_value() == "redis://localhost:6379/0"
    assert settings.safe_url == "redis://localhost:6379/0"


def test_url_is_derived_from_the_four_parts_with_the_password_quoted() -> None:
    settings = load(
        REDIS_HOST="cache.internal", REDIS_PORT="6380", REDIS_PASSWORD=PASSWORD, REDIS_CACHE_DB="3"
    )

    url = settings.url.get_secret_value()
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == ("redis", "cache.internal", 6380, "/3")
    assert parts.password is not None
    assert unquote(parts.password) == PASSWORD
    assert url == "redis://:p%40ss%3Aw%2Frd%25%3F%23%26s3cret@cache.internal:6380/3"


def test_an_ipv6_host_is_bracketed_in_the_derived_url() -> None:
    assert load(REDIS_HOST="::1").url.get_secret_value() == "redis://[::1]:6379/0"


def test_app_cache_redis_url_wins_over_the_parts() -> None:
    explicit = "rediss://cache-user:other-secret@managed.example.com:6390/5"
    settings = load(
        APP_CACHE_REDIS_URL=explicit, REDIS_HOST="ignored", REDIS_PORT="1234", REDIS_PASSWORD=PASSWORD
    )

    assert settings.url.get_secret_value() == explicit


def test_passwords_are_kept_out_of_repr_and_str() -> None:
    settings = load(REDIS_PASSWORD=PASSWORD, APP_CACHE_REDIS_URL="redis://:url-s3cret@cache:6379/0")

    for text in (repr(settings), str(settings), repr(settings.url), str(settings.url)):
        assert PASSWORD not in text
        assert "url-s3cret" not in text
    assert isinstance(settings.password, SecretStr)


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("redis://:url-s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://app:url-s3cret@cache:6390/1", "rediss://app:***@cache:6390/1"),
        ("unix:///run/redis.sock?db=2&password=url-s3cret", "unix:///run/redis.sock?db=2&password=***"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
    ],
)
def test_safe_url_masks_the_password(url: str, safe: str) -> None:
    assert load(APP_CACHE_REDIS_URL=url).safe_url == safe


def test_safe_url_masks_the_derived_password() -> None:
    assert load(REDIS_PASSWORD=PASSWORD).safe_url == "redis://:***@localhost:6379/0"


def test_empty_variables_count_as_unset() -> None:
    settings = load(REDIS_PASSWORD="", APP_CACHE_REDIS_URL="", REDIS_HOST="", REDIS_PORT="")

    assert settings.password is None
    assert settings.cache_url is None
    assert settings.url.get_secret_value() == "redis://localhost:6379/0"


@pytest.mark.parametrize("link", ["tcp://10.0.0.3:6379", "tcp://10.0.0.3:6380", "udp://[fd00::3]:6379"])
def test_a_kubernetes_service_link_in_redis_port_leaves_the_default(link: str) -> None:
    # A Service named `redis` injects REDIS_PORT=tcp://<cluster ip>:<port> into every pod.
    assert load(REDIS_PORT=link).port == 6379


def test_unrelated_redis_variable_is_ignored() -> None:
    # pydantic-settings would read a variable named like a composed part: only ours count.
    assert load(REDIS="whatever", REDIS_URL="{not json").url.get_secret_value() == "redis://localhost:6379/0"


@pytest.mark.parametrize(
    "url",
    [
        "redis://:url-s3cret@cache:6379/0?ssl_cert_reqs=none",
        "redis://:url-s3cret@cache:6379/0?foo=bar",
        "redis://:url-s3cret@cache:6379/0?ssl_check_hostname=true",
        "rediss://:url-s3cret@cache:6379/0?ssl_cert_reqs=sometimes",
        "unix:///run/redis.sock?password=url-s3cret&ssl_cert_reqs=none",
    ],
)
def test_url_options_redis_py_cannot_use_are_refused_at_start(url: str) -> None:
    error = configuration_error(APP_CACHE_REDIS_URL=url)

    assert list(error.problems) == ["APP_CACHE_REDIS_URL"]
    assert "cannot use" in error.problems["APP_CACHE_REDIS_URL"]
    assert "url-s3cret" not in str(error)


@pytest.mark.parametrize(
    "query",
    ["socket_timeout=5", "max_connections=10", "protocol=3", "client_name=erp", "health_check_interval=5"],
)
def test_url_options_redis_py_takes_are_accepted(query: str) -> None:
    assert load(APP_CACHE_REDIS_URL=f"redis://cache:6379/0?{query}").cache_url is not None


def test_rediss_keeps_its_tls_options() -> None:
    assert load(APP_CACHE_REDIS_URL="rediss://cache:6379/0?ssl_cert_reqs=none").cache_url is not None


def test_non_integer_port_is_an_error_naming_redis_port() -> None:
    error = configuration_error(REDIS_PORT="abc")

    assert list(error.problems) == ["REDIS_PORT"]
    assert "REDIS_PORT" in str(error)
    assert "abc" not in str(error)


@pytest.mark.parametrize("port", ["0", "65536", "-1"])
def test_port_outside_1_to_65535_is_refused(port: str) -> None:
    assert list(configuration_error(REDIS_PORT=port).problems) == ["REDIS_PORT"]


def test_negative_cache_db_is_refused() -> None:
    assert list(configuration_error(REDIS_CACHE_DB="-1").problems) == ["REDIS_CACHE_DB"]


@pytest.mark.parametrize("host", ["cache/0", "user@cache", "cache?db=1", "two words"])
def test_host_that_would_change_the_url_is_refused(host: str) -> None:
    assert list(configuration_error(REDIS_HOST=host).problems) == ["REDIS_HOST"]


@pytest.mark.parametrize(
    "url",
    [
        "http://:url-s3cret@cache:6379/0",
        "url-s3cret",
        "redis://:url-s3cret@:6379/0",
        "redis://:url-s3cret@cache:port/0",
        "redis://:url-s3cret@cache:0/0",
        "redis://:url-s3cret@cache:6379/zero",
        "redis://:url-s3cret@[cache:6379/0",
        "redis://:url-s3cret@cache:6379/0?socket_timeout=soon",
        "unix://:url-s3cret@",
    ],
)
def test_malformed_url_names_app_cache_redis_url_without_echoing_it(url: str) -> None:
    error = configuration_error(APP_CACHE_REDIS_URL=url)

    assert list(error.problems) == ["APP_CACHE_REDIS_URL"]
    assert "url-s3cret" not in str(error)
    assert "url-s3cret" not in repr(error)


def test_every_bad_variable_is_reported_at_once_without_the_password() -> None:
    error = configuration_error(
        REDIS_PORT="abc", REDIS_CACHE_DB="x", REDIS_PASSWORD=PASSWORD, APP_CACHE_REDIS_URL="ftp://x"
    )

    assert sorted(error.problems) == ["APP_CACHE_REDIS_URL", "REDIS_CACHE_DB", "REDIS_PORT"]
    assert PASSWORD not in str(error)


def test_settings_can_be_built_from_arguments() -> None:
    with environment({}):
        settings = RedisSettings(
            host="cache", port=6380, password=SecretStr("pw"), cache_db=2, _env_file=None
        )

    assert settings.url.get_secret_value() == "redis://:pw@cache:6380/2"
