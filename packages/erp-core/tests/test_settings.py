from pathlib import Path
from typing import Annotated

import pytest
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from erp_core import (
    ConfigurationError,
    CoreSettings,
    Environment,
    ErpSettings,
    IgnoreServiceLink,
    LogFormat,
    LogLevel,
)
from erp_core.testing import environment, settings_from_env


class _SecretPart(ErpSettings):
    model_config = SettingsConfigDict(env_prefix="PART_")

    token: SecretStr
    port: int = 1


class _Composed(CoreSettings):
    part: _SecretPart
    threshold: float = Field(1.0, validation_alias="THRESHOLD")


def test_defaults_match_the_contract():
    settings = settings_from_env(CoreSettings, {})

    assert settings.app_name == "erp-api"
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.debug_mode is False
    assert settings.time_zone == "UTC"
    assert settings.log_level is LogLevel.INFO
    assert settings.log_format is LogFormat.JSON


def test_every_bad_variable_is_named_by_its_environment_name_at_once():
    env = {
        "ENVIRONMENT": "moon",
        "LOG_LEVEL": "LOUD",
        "LOG_FORMAT": "xml",
        "TIME_ZONE": "Mars/Olympus_Mons",
        "DEBUG_MODE": "perhaps",
        "PART_PORT": "not-a-port",
        "THRESHOLD": "high",
    }

    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(_Composed, env)

    assert set(caught.value.problems) == {
        "ENVIRONMENT",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "TIME_ZONE",
        "DEBUG_MODE",
        "PART_PORT",
        "PART_TOKEN",
        "THRESHOLD",
    }
    message = str(caught.value)
    for name in caught.value.problems:
        assert f"  {name}: " in message


def test_rejected_values_never_appear_in_the_error():
    secret = "hunter2-very-secret"
    env = {"PART_TOKEN": secret, "PART_PORT": secret, "ENVIRONMENT": secret}

    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(_Composed, env)

    assert secret not in str(caught.value)
    assert secret not in repr(caught.value)


def test_secret_is_absent_from_repr_and_str_of_settings():
    settings = settings_from_env(_Composed, {"PART_TOKEN": "hunter2-very-secret"})

    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings)
    assert settings.part.token.get_secret_value() == "hunter2-very-secret"


def test_debug_mode_is_refused_in_production():
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(CoreSettings, {"ENVIRONMENT": "production", "DEBUG_MODE": "true"})

    assert list(caught.value.problems) == ["DEBUG_MODE"]


def test_debug_mode_is_allowed_outside_production():
    settings = settings_from_env(CoreSettings, {"ENVIRONMENT": "staging", "DEBUG_MODE": "true"})

    assert settings.debug_mode is True
    assert settings.environment.is_deployed


def test_unknown_time_zone_is_refused():
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(CoreSettings, {"TIME_ZONE": "Europe/Atlantis"})

    assert "TIME_ZONE" in caught.value.problems


@pytest.mark.parametrize("zone", ["America", "Europe", "Asia", "../etc/passwd", "/etc/passwd"])
def test_a_time_zone_directory_or_path_is_one_named_problem_among_the_others(zone: str):
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(CoreSettings, {"TIME_ZONE": zone, "LOG_LEVEL": "LOUD"})

    assert set(caught.value.problems) == {"TIME_ZONE", "LOG_LEVEL"}


def test_empty_variables_count_as_unset():
    settings = settings_from_env(CoreSettings, {"APP_NAME": "", "TIME_ZONE": "", "LOG_LEVEL": ""})

    assert (settings.app_name, settings.time_zone, settings.log_level) == ("erp-api", "UTC", LogLevel.INFO)


def test_a_variable_named_like_a_composed_part_is_ignored():
    # `PART` is no variable of the contract; pydantic-settings would parse it as the part's JSON.
    for value in ("not json", '{"token": "from-json"}'):
        settings = settings_from_env(_Composed, {"PART": value, "PART_TOKEN": "t"})

        assert settings.part.token.get_secret_value() == "t"


def test_a_bad_part_is_reported_by_its_variables_even_beside_a_variable_named_like_it():
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(_Composed, {"PART": "x", "PART_PORT": "seven"})

    assert set(caught.value.problems) == {"PART_TOKEN", "PART_PORT"}


@pytest.mark.parametrize("link", ["tcp://10.0.0.3:6379", "udp://10.0.0.3:53", "sctp://[fd00::1]:9"])
def test_ignore_service_link_leaves_the_default(link: str):
    class _Linked(ErpSettings):
        model_config = SettingsConfigDict(env_prefix="CACHE_")

        port: Annotated[int, IgnoreServiceLink] = 6379

    assert settings_from_env(_Linked, {"CACHE_PORT": link}).port == 6379
    assert settings_from_env(_Linked, {"CACHE_PORT": "7000"}).port == 7000
    with pytest.raises(ConfigurationError):
        settings_from_env(_Linked, {"CACHE_PORT": "http://10.0.0.3:6379"})


def test_known_time_zone_is_kept_and_usable():
    settings = settings_from_env(CoreSettings, {"TIME_ZONE": "Europe/Berlin"})

    assert settings.zone.key == "Europe/Berlin"


def test_choices_accept_any_case():
    settings = settings_from_env(
        CoreSettings, {"LOG_LEVEL": "debug", "LOG_FORMAT": "CONSOLE", "ENVIRONMENT": "Test"}
    )

    assert settings.log_level is LogLevel.DEBUG
    assert settings.log_format is LogFormat.CONSOLE
    assert settings.environment is Environment.TEST


def test_environment_variable_beats_the_same_key_in_dotenv(tmp_path: Path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("APP_NAME=from-dotenv\nLOG_LEVEL=WARNING\n")

    settings = settings_from_env(CoreSettings, {"APP_NAME": "from-environment"}, env_file=str(dotenv))

    assert settings.app_name == "from-environment"
    assert settings.log_level is LogLevel.WARNING


def test_dotenv_in_the_working_directory_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / ".env").write_text("APP_NAME=from-cwd\n")
    monkeypatch.chdir(tmp_path)

    with environment({}):
        settings = CoreSettings()

    assert settings.app_name == "from-cwd"


def test_composed_part_reads_its_prefixed_variables():
    settings = settings_from_env(_Composed, {"PART_TOKEN": "t", "PART_PORT": "7", "THRESHOLD": "2.5"})

    assert settings.part.port == 7
    assert settings.threshold == 2.5


def test_explicit_values_bypass_the_environment():
    part = _SecretPart(token=SecretStr("x"))
    settings = _Composed(part=part, APP_NAME="explicit", _env_file=None)

    assert settings.part is part
    assert settings.app_name == "explicit"


def test_an_unreadable_dotenv_is_one_named_problem_not_a_traceback(tmp_path: Path):
    dotenv = tmp_path / ".env"
    dotenv.write_bytes(b"APP_NAME=\xff\xfe\n")

    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(CoreSettings, {}, env_file=str(dotenv))

    assert caught.value.problems == {".env": "cannot be read as UTF-8 text"}
