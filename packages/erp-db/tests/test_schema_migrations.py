"""erp_db.schema_migrations: the configuration, the source-checkout guard and the commands.

The configuration finds the migrations as package resources and reads the
head once; new revisions are written only where they can be committed;
upgrade, downgrade, current_revisions and check_migrations run against real
databases.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

import pytest
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

import erp_db
from erp_db import canonical_email
from erp_db.errors import NotEditableInstallError, SchemaDriftError
from erp_db.schema_migrations import (
    FILE_TEMPLATE,
    MIGRATIONS_RESOURCE,
    _describe_diff,
    alembic_config,
    check_migrations,
    current_revisions,
    downgrade,
    is_source_checkout,
    require_source_checkout,
    script_directory,
    shipped_head,
    upgrade,
)

PACKAGE_DIR = Path(str(resources.files("erp_db")))
EXTRA_VERSIONS = Path(__file__).parent / "extra_versions"

# FILE_TEMPLATE as a pattern: 2026_11_26_0705-e4db401adafd_baseline.py
DATE_STAMPED = re.compile(r"\d{4}_\d{2}_\d{2}_\d{4}-[0-9a-f]{12}_\w+\.py")


def test_the_configuration_reads_no_file_and_finds_the_scripts_in_the_package() -> None:
    config = alembic_config()

    assert config.config_file_name is None
    assert config.get_main_option("script_location") == MIGRATIONS_RESOURCE
    assert Path(script_directory().dir).resolve() == (PACKAGE_DIR / "migrations").resolve()


def test_the_package_ships_env_template_and_versions() -> None:
    migrations = resources.files("erp_db").joinpath("migrations")

    assert migrations.joinpath("env.py").is_file()
    assert migrations.joinpath("script.py.mako").is_file()
    assert any(entry.name.endswith(".py") for entry in migrations.joinpath("versions").iterdir())


def test_the_url_reaches_env_py_as_an_attribute_never_as_option_text() -> None:
    config = alembic_config("postgres://erp:p%25ss@db.internal/erp")

    assert config.attributes["url"].drivername == "postgresql+asyncpg"
    assert config.attributes["url"].password == "p%ss"
    assert config.get_main_option("sqlalchemy.url") is None


def test_every_shipped_revision_file_is_date_stamped() -> None:
    assert alembic_config().get_main_option("file_template") == FILE_TEMPLATE
    files = [Path(script.path).name for script in script_directory().walk_revisions()]

    assert files
    assert all(DATE_STAMPED.fullmatch(name) for name in files), files


def test_shipped_head_is_the_single_head_parsed_once() -> None:
    expected = script_directory().get_current_head()
    shipped_head()  # warm
    hits = shipped_head.cache_info().hits

    assert shipped_head() == expected
    assert shipped_head.cache_info().hits == hits + 1


def make_project(root: Path, name: str = "erp-db") -> Path:
    package = root / "src" / "erp_db"
    package.mkdir(parents=True)
    (root / "pyproject.toml").write_text(f'[project]\nname = "{name}"\n', encoding="utf-8")
    return package


def test_the_imported_package_counts_as_source_exactly_when_it_is_this_repository() -> None:
    # True in the development venv (editable install), false when the tests
    # run against an installed wheel.
    imported = Path(erp_db.__file__).resolve().parent
    repository_copy = Path(__file__).resolve().parent.parent / "src" / "erp_db"

    assert is_source_checkout(imported) is (imported == repository_copy)


def test_a_src_layout_of_the_erp_db_project_is_a_source_checkout(tmp_path: Path) -> None:
    assert is_source_checkout(make_project(tmp_path))


def test_an_installed_package_is_not(tmp_path: Path) -> None:
    package = tmp_path / "lib" / "python3.11" / "site-packages" / "erp_db"
    package.mkdir(parents=True)

    assert not is_source_checkout(package)
    with pytest.raises(NotEditableInstallError, match="source checkout"):
        require_source_checkout(package)


def test_a_src_layout_of_another_project_is_not(tmp_path: Path) -> None:
    assert not is_source_checkout(make_project(tmp_path, name="something-else"))


def test_an_unreadable_pyproject_is_not(tmp_path: Path) -> None:
    package = make_project(tmp_path)
    (tmp_path / "pyproject.toml").write_text("not = [toml", encoding="utf-8")

    assert not is_source_checkout(package)


async def test_a_fresh_database_round_trips_up_down_and_up_again(empty_database: str) -> None:
    assert await asyncio.to_thread(current_revisions, empty_database) == ()

    await asyncio.to_thread(upgrade, empty_database)
    assert await asyncio.to_thread(current_revisions, empty_database) == (shipped_head(),)

    await asyncio.to_thread(downgrade, empty_database, "base")
    assert await asyncio.to_thread(current_revisions, empty_database) == ()

    await asyncio.to_thread(upgrade, empty_database, "head")
    assert await asyncio.to_thread(current_revisions, empty_database) == (shipped_head(),)


async def test_the_canonical_email_migration_fills_existing_rows_in_python(
    empty_database: str, open_connection: Callable[[str], Awaitable[AsyncConnection]]
) -> None:
    # Rows written before d3f7a9b2c4e1 get the form the code computes, ASCII or not.
    await asyncio.to_thread(upgrade, empty_database, "c5e8a1f4d2b6")
    connection = await open_connection(empty_database)
    emails = ["Ann@Example.ORG", "T\u0130gris@example.org", "\uff22ob@example.org"]
    for email in emails:
        await connection.execute(
            text("INSERT INTO users (id, email, password_hash) VALUES (gen_random_uuid(), :e, 'x')"),
            {"e": email},
        )

    await asyncio.to_thread(upgrade, empty_database, "d3f7a9b2c4e1")

    rows = (await connection.execute(text("SELECT email, email_canonical FROM users"))).all()
    assert {row.email: row.email_canonical for row in rows} == {e: canonical_email(e) for e in emails}


async def test_upgrade_called_from_a_coroutine_still_works(empty_database: str) -> None:
    # Blocks the loop meanwhile (to_thread is the polite way), but must not fail.
    upgrade(empty_database)

    assert await asyncio.to_thread(current_revisions, empty_database) == (shipped_head(),)


async def test_check_passes_when_the_models_match_the_migrations(erp_db_url: str) -> None:
    await asyncio.to_thread(check_migrations, erp_db_url)


async def test_check_refuses_a_database_that_is_not_at_head(empty_database: str) -> None:
    with pytest.raises(CommandError, match="not up to date"):
        await asyncio.to_thread(check_migrations, empty_database)


def test_drift_is_summarised_by_operation_and_name() -> None:
    class Named:
        def __init__(self, name: str) -> None:
            self.name = name

    diffs = [
        ("add_table", Named("customers")),
        ("add_column", None, "orders", Named("note")),
        [("modify_nullable", None, "orders", "total", {}, False, True)],
    ]

    assert [_describe_diff(diff) for diff in diffs] == [
        "add_table customers",
        "add_column orders.note",
        "modify_nullable orders.total",
    ]
    assert issubclass(SchemaDriftError, Exception)


async def test_concurrent_upgrades_apply_each_migration_once(
    empty_database: str, commands, migration_lock_holder, open_connection
) -> None:
    # Two processes migrate with the shipped versions plus a test-only
    # revision that records every run of itself. The test holds the lock until
    # both wait for it, so they truly race when it is released.
    code = (
        "import os, sys\n"
        "from importlib import resources\n"
        "from alembic import command\n"
        "from erp_db.schema_migrations import alembic_config\n"
        "config = alembic_config(os.environ['URL'])\n"
        "shipped = resources.files('erp_db') / 'migrations' / 'versions'\n"
        "config.set_main_option('version_locations', os.pathsep.join([str(shipped), sys.argv[1]]))\n"
        "command.upgrade(config, 'heads')\n"
    )
    env = {"URL": empty_database, "ERP_DB_TEST_DOWN_REVISION": shipped_head()}
    holder = await migration_lock_holder(empty_database)
    await holder.hold()
    runs = [commands.start(sys.executable, "-c", code, str(EXTRA_VERSIONS), env=env) for _ in range(2)]
    try:
        await holder.wait_for_waiters(2)
    finally:
        await holder.release()
    outcomes = [await asyncio.to_thread(run.communicate, timeout=60) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outcomes
    database = await open_connection(empty_database)
    assert await database.scalar(text("SELECT count(*) FROM migration_runs")) == 1
    assert list(await database.scalars(text("SELECT version_num FROM alembic_version"))) == ["a99e5700000e"]
