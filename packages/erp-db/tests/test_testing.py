"""erp_db.testing: throwaway databases, and fixtures that leave nothing behind."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncSession

from erp_db.schema_migrations import current_revisions, shipped_head
from erp_db.testing import (
    DEFAULT_TEST_DATABASE_URL,
    admin_url_from_env,
    create_database,
    drop_database,
    temporary_database,
)

DATABASE_EXISTS = text("SELECT count(*) FROM pg_database WHERE datname = :name")


async def test_temporary_database_is_migrated_then_dropped_even_while_in_use(
    admin_url: str, open_connection
) -> None:
    admin = await open_connection(admin_url)

    async with temporary_database(admin_url) as url:
        name = make_url(url).database
        assert await asyncio.to_thread(current_revisions, url) == (shipped_head(),)
        await open_connection(url)  # still connected when the block ends

    assert await admin.scalar(DATABASE_EXISTS, {"name": name}) == 0


async def test_create_and_drop_database(admin_url: str, open_connection) -> None:
    admin = await open_connection(admin_url)

    await create_database(admin_url, "erp_test_create_and_drop")
    assert await admin.scalar(DATABASE_EXISTS, {"name": "erp_test_create_and_drop"}) == 1
    await drop_database(admin_url, "erp_test_create_and_drop")
    assert await admin.scalar(DATABASE_EXISTS, {"name": "erp_test_create_and_drop"}) == 0


@pytest.mark.parametrize("name", ['x"; DROP DATABASE postgres; --', "Upper", "", "a" * 64])
async def test_unsafe_database_names_are_refused(admin_url: str, name: str) -> None:
    with pytest.raises(ValueError, match="database names"):
        await create_database(admin_url, name)


def test_admin_url_is_read_when_called(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    assert admin_url_from_env() == DEFAULT_TEST_DATABASE_URL

    monkeypatch.setenv("TEST_DATABASE_URL", "postgresql://ci@db.internal/postgres")
    assert admin_url_from_env() == "postgresql://ci@db.internal/postgres"


async def test_session_commits_stay_invisible_to_other_connections(
    erp_db_session: AsyncSession, erp_db_url: str, open_connection
) -> None:
    await erp_db_session.execute(text("CREATE TABLE fixture_probe (id int PRIMARY KEY)"))
    await erp_db_session.execute(text("INSERT INTO fixture_probe VALUES (1)"))
    await erp_db_session.commit()  # releases a savepoint: the outer transaction stays open

    assert await erp_db_session.scalar(text("SELECT count(*) FROM fixture_probe")) == 1
    other = await open_connection(erp_db_url)
    assert await other.scalar(text("SELECT to_regclass('fixture_probe')")) is None


CONFTEST = 'pytest_plugins = ["erp_db.testing"]\n'

PYPROJECT = """\
[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "session"
asyncio_default_test_loop_scope = "session"
filterwarnings = ["error"]
"""

# Two tests in a row: what the first commits must be gone for the second.
TESTS = """\
from sqlalchemy import text

from erp_db import current_revisions, shipped_head


async def test_a_commits(erp_db_session):
    await erp_db_session.execute(text("CREATE TABLE written_by_a (id int)"))
    await erp_db_session.commit()
    await erp_db_session.execute(text("INSERT INTO written_by_a VALUES (1)"))
    await erp_db_session.commit()


async def test_b_sees_nothing_of_a(erp_db_session, erp_db_url):
    found = await erp_db_session.scalar(text("SELECT to_regclass('written_by_a')"))
    assert found is None
    assert current_revisions(erp_db_url) == (shipped_head(),)
"""


async def test_the_fixtures_work_for_another_project_through_pytest_plugins(
    tmp_path: Path, commands, admin_url: str
) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "test_with_database.py").write_text(textwrap.dedent(TESTS))

    result = await asyncio.to_thread(
        commands.run,
        *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)),
        env={"TEST_DATABASE_URL": admin_url},
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


async def test_an_unreachable_server_fails_the_tests_loudly(tmp_path: Path, commands) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "test_with_database.py").write_text("def test_needs_db(erp_db_url):\n    pass\n")
    env = {"TEST_DATABASE_URL": "postgresql://ci:Unr3achable@127.0.0.1:1/postgres"}

    result = await asyncio.to_thread(
        commands.run, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path), env=env
    )

    assert result.returncode == 1, result.stdout
    assert "1 error" in result.stdout
    assert "skipped" not in result.stdout
    assert (
        "PostgreSQL at 127.0.0.1:1 (TEST_DATABASE_URL) is unusable: ConnectionRefusedError" in result.stdout
    )
    assert "Unr3achable" not in result.stdout
