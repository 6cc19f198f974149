"""to_asyncpg_url: every PostgreSQL URL form becomes one asyncpg accepts, or a message without the secret."""

from __future__ import annotations

import pytest
from sqlalchemy import make_url

from erp_db.database_url import masked, server_address, to_asyncpg_url
from erp_db.errors import InvalidDatabaseUrl

PASSWORD = "Sup3rS3cret"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+asyncpg"])
def test_postgresql_schemes_become_asyncpg(scheme: str) -> None:
    url = to_asyncpg_url(f"{scheme}://erp:{PASSWORD}@db.internal:6543/erp")

    assert url.drivername == "postgresql+asyncpg"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "erp",
        PASSWORD,
        "db.internal",
        6543,
        "erp",
    )


def test_an_url_object_is_normalised_too() -> None:
    assert to_asyncpg_url(make_url("postgres://h/db")).drivername == "postgresql+asyncpg"


def test_libpq_sslmode_becomes_asyncpg_ssl() -> None:
    url = to_asyncpg_url("postgresql://u:p@h/db?sslmode=verify-full&target_session_attrs=read-write")

    assert dict(url.query) == {"ssl": "verify-full", "target_session_attrs": "read-write"}


def test_ssl_given_the_asyncpg_way_is_kept() -> None:
    assert dict(to_asyncpg_url("postgresql+asyncpg://h/db?ssl=require").query) == {"ssl": "require"}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://h/db?sslmode=sometimes", "sslmode must be one of"),
        ("postgresql://h/db?sslmode=require&ssl=disable", "sslmode and ssl disagree"),
    ],
)
def test_unusable_ssl_settings_are_refused(url: str, reason: str) -> None:
    with pytest.raises(InvalidDatabaseUrl, match=reason):
        to_asyncpg_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"mysql://erp:{PASSWORD}@h/db", "unsupported scheme 'mysql'"),
        (f"postgresql+psycopg://erp:{PASSWORD}@h/db", r"unsupported scheme 'postgresql\+psycopg'"),
        (f"erp:{PASSWORD}@h/db", "not a URL of the form"),
        (f"postgresql://erp:{PASSWORD}@h:port/db", "not a URL of the form"),
        (f"postgresql://erp:{PASSWORD}@extra@h/db", "percent-encode '@'"),
    ],
)
def test_other_urls_are_refused_without_repeating_the_password(url: str, reason: str) -> None:
    with pytest.raises(InvalidDatabaseUrl, match=reason) as caught:
        to_asyncpg_url(url)

    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None  # no chained parser error quoting the input


def test_masked_hides_the_password_and_server_address_names_host_and_port() -> None:
    url = to_asyncpg_url(f"postgresql://erp:{PASSWORD}@db.internal/erp")

    assert masked(url) == "postgresql+asyncpg://erp:***@db.internal/erp"
    assert server_address(url) == "db.internal:5432"
    assert server_address(to_asyncpg_url("postgresql:///erp")) == "localhost:5432"


def test_a_password_given_as_query_parameter_moves_out_of_the_query() -> None:
    url = to_asyncpg_url("postgresql://erp@db:5432/erp?password=QuerySecret9")

    assert url.password == "QuerySecret9"
    assert "password" not in url.query
    assert "QuerySecret9" not in masked(url)


def test_libpq_connect_timeout_is_translated_and_validated() -> None:
    assert to_asyncpg_url("postgres://erp@db/erp?connect_timeout=10").query == {"timeout": "10"}
    with pytest.raises(InvalidDatabaseUrl, match="connect_timeout"):
        to_asyncpg_url("postgres://erp@db/erp?connect_timeout=soon")


def test_parameters_asyncpg_would_refuse_at_connect_time_are_refused_now() -> None:
    with pytest.raises(InvalidDatabaseUrl, match="options, sslrootcert") as caught:
        to_asyncpg_url("postgresql://erp:pw-q@db/erp?sslrootcert=/ca.pem&options=-c%20x")

    assert "pw-q" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"postgresql://erp:{PASSWORD}@h:99999/db", "port must be a number from 1 to 65535"),
        (f"postgresql://erp:{PASSWORD}@h:-1/db", "port must be a number from 1 to 65535"),
        (f"postgresql://erp:{PASSWORD}@h:0/db", "port must be a number from 1 to 65535"),
        (f"postgresql://erp:{PASSWORD}@h/db?ssl=bogus", "ssl must be one of"),
        (f"postgresql://erp:{PASSWORD}@h/db?ssl=true", "ssl must be one of"),
        (
            f"postgresql://erp:{PASSWORD}@h/db?target_session_attrs=bogus",
            "target_session_attrs must be one of",
        ),
        (
            f"postgresql://erp:{PASSWORD}@h/db?prepared_statement_cache_size=abc",
            "prepared_statement_cache_size",
        ),
        (
            f"postgresql://erp:{PASSWORD}@h/db?prepared_statement_cache_size=-5",
            "prepared_statement_cache_size",
        ),
        (f"postgresql://erp:{PASSWORD}@h/db?ssl=require&ssl=disable", r"ssl given more than once"),
        (
            f"postgresql://erp:{PASSWORD}@h/db?sslmode=require&sslmode=require",
            r"sslmode given more than once",
        ),
        (f"postgresql://erp:{PASSWORD}@h/db?timeout=1&timeout=2", r"timeout given more than once"),
    ],
)
def test_urls_that_could_never_connect_are_refused_without_the_password(url: str, reason: str) -> None:
    with pytest.raises(InvalidDatabaseUrl, match=reason) as caught:
        to_asyncpg_url(url)

    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    "query",
    [
        "ssl=verify-full",
        "target_session_attrs=read-write",
        "target_session_attrs=prefer-standby",
        "prepared_statement_cache_size=0",
        "prepared_statement_cache_size=100",
    ],
)
def test_usable_parameter_values_are_kept(query: str) -> None:
    name, value = query.split("=")
    assert to_asyncpg_url(f"postgresql://h:6543/db?{query}").query[name] == value
