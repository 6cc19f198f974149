"""alembic_config and shipped_head: the migrations found as package resources, the head read once."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from erp_db.migrations_config import (
    FILE_TEMPLATE,
    MIGRATIONS_RESOURCE,
    alembic_config,
    script_directory,
    shipped_head,
)

PACKAGE_DIR = Path(str(resources.files("erp_db")))

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
