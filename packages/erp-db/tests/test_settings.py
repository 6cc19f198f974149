"""DatabaseSettings: DATABASE_* variables, normalised, with the password kept out of every text."""

from __future__ import annotations

import pytest

from erp_core import ConfigurationError
from erp_core.testing import settings_from_env
from erp_db.settings import DatabaseSettings

PASSWORD = "Sup3rS3cret"
URL = f"postgresql+asyncpg://erp:{PASSWORD}@db.internal:5432/erp"


def test_defaults_bound_the_pool() -> None:
    settings = settings_from_env(DatabaseSettings, {"DATABASE_URL": URL})

    assert (settings.pool_size, settings.max_overflow, settings.pool_timeout_s) == (5, 5, 10.0)


def test_pool_variables_are_read_with_the_database_prefix() -> None:
    env = {
        "DATABASE_URL": URL,
        "DATABASE_POOL_SIZE": "20",
        "DATABASE_MAX_OVERFLOW": "0",
        "DATABASE_POOL_TIMEOUT_S": "2.5",
    }
    settings = settings_from_env(DatabaseSettings, env)

    assert (settings.pool_size, settings.max_overflow, settings.pool_timeout_s) == (20, 0, 2.5)


@pytest.mark.parametrize(("value", "expected"), [(None, False), ("true", True), ("false", False)])
def test_pgbouncer_mode_is_off_unless_set(value: str | None, expected: bool) -> None:
    env = {"DATABASE_URL": URL} | ({"DATABASE_PGBOUNCER": value} if value is not None else {})

    assert settings_from_env(DatabaseSettings, env).pgbouncer is expected


def test_a_libpq_url_is_normalised_for_asyncpg() -> None:
    env = {"DATABASE_URL": f"postgres://erp:{PASSWORD}@db.internal/erp?sslmode=require"}
    settings = settings_from_env(DatabaseSettings, env)

    assert (
        settings.url.get_secret_value() == f"postgresql+asyncpg://erp:{PASSWORD}@db.internal/erp?ssl=require"
    )
    assert settings.safe_url == "postgresql+asyncpg://erp:***@db.internal/erp?ssl=require"


def test_the_password_is_absent_from_repr_and_str() -> None:
    settings = settings_from_env(DatabaseSettings, {"DATABASE_URL": URL})

    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings)
    assert PASSWORD not in str(settings.sqlalchemy_url)


def test_a_missing_url_is_named_by_its_variable() -> None:
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(DatabaseSettings, {})

    assert list(caught.value.problems) == ["DATABASE_URL"]


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://erp:{PASSWORD}@db.internal/erp",
        f"postgresql://erp:{PASSWORD}@db.internal:notaport/erp",
        f"postgresql://erp:{PASSWORD}@@db.internal/erp",
        f"{PASSWORD}",
    ],
)
def test_a_bad_url_is_reported_without_the_password(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(DatabaseSettings, {"DATABASE_URL": url})

    assert list(caught.value.problems) == ["DATABASE_URL"]
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(caught.value.problems)


def test_every_bad_pool_variable_is_named_at_once() -> None:
    env = {
        "DATABASE_URL": URL,
        "DATABASE_POOL_SIZE": "x",
        "DATABASE_MAX_OVERFLOW": "-1",
        "DATABASE_POOL_TIMEOUT_S": "0",
    }
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(DatabaseSettings, env)

    assert sorted(caught.value.problems) == [
        "DATABASE_MAX_OVERFLOW",
        "DATABASE_POOL_SIZE",
        "DATABASE_POOL_TIMEOUT_S",
    ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_POOL_TIMEOUT_S", "inf"),
        ("DATABASE_POOL_TIMEOUT_S", "1e400"),
        ("DATABASE_POOL_TIMEOUT_S", "nan"),
        ("DATABASE_POOL_TIMEOUT_S", "601"),
        ("DATABASE_POOL_SIZE", "1001"),
        ("DATABASE_MAX_OVERFLOW", "1" + "0" * 30),
    ],
)
def test_pool_bounds_are_finite(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(DatabaseSettings, {"DATABASE_URL": URL, variable: value})

    assert list(caught.value.problems) == [variable]


def test_an_unrelated_database_variable_is_ignored() -> None:
    settings = settings_from_env(
        DatabaseSettings, {"DATABASE_URL": URL, "DATABASE": "erp", "DATABASE_PORT": "x"}
    )

    assert settings.safe_url == "postgresql+asyncpg://erp:***@db.internal:5432/erp"
