"""The erp-db command, run as operators run it: the installed script, in a subprocess."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

import erp_db
from erp_db.schema_migrations import shipped_head

PASSWORD = "Cl1S3cretPw"
# The code under test, wherever it is installed; and this repository's project.
PACKAGE_DIR = Path(erp_db.__file__).resolve().parent
PROJECT_DIR = Path(__file__).resolve().parent.parent


def with_password(url: str) -> str:
    return make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)


def test_help_lists_every_command(commands) -> None:
    result = commands.run_erp_db("--help")

    assert result.returncode == 0
    for name in ("upgrade", "downgrade", "current", "history", "check", "revision"):
        assert name in result.stdout


def test_upgrade_sql_prints_the_sql_without_a_url_or_a_server(commands) -> None:
    result = commands.run_erp_db("upgrade", "--sql")

    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE alembic_version" in result.stdout
    assert "INSERT INTO alembic_version (version_num) VALUES" in result.stdout
    # The first revision is inserted, each later one an UPDATE: the script ends at the head.
    assert f"version_num='{shipped_head()}'" in result.stdout
    assert "INFO" not in result.stdout  # log lines go to stderr, the SQL stays clean


def test_downgrade_sql_renders_a_range(commands) -> None:
    result = commands.run_erp_db("downgrade", "--sql", f"{shipped_head()}:base")

    assert result.returncode == 0, result.stderr
    assert "DELETE FROM alembic_version WHERE alembic_version.version_num =" in result.stdout
    assert f"'{shipped_head()}'" in result.stdout


def test_history_lists_the_shipped_revisions_without_a_database(commands) -> None:
    result = commands.run_erp_db("history")

    assert result.returncode == 0, result.stderr
    assert f"-> {shipped_head()} (head)" in result.stdout


async def test_upgrade_then_current_and_check_on_a_fresh_database(empty_database: str, commands) -> None:
    env = {"DATABASE_URL": empty_database}

    upgraded = await asyncio.to_thread(commands.run_erp_db, "upgrade", env=env)
    current = await asyncio.to_thread(commands.run_erp_db, "current", env=env)
    checked = await asyncio.to_thread(commands.run_erp_db, "check", env=env)

    assert upgraded.returncode == 0, upgraded.stderr
    assert current.stdout.strip() == f"{shipped_head()} (head)"
    assert (checked.returncode, checked.stdout.strip()) == (0, "models and migrations agree")


async def test_check_fails_when_a_model_has_no_migration(erp_db_url: str, commands) -> None:
    # The table joins Base.metadata in the child process only: this process's
    # metadata, which other tests compare, stays as shipped.
    code = (
        "import sys\n"
        "from sqlalchemy import Column, Integer, Table\n"
        "from erp_db.models import Base\n"
        "from erp_db.cli import main\n"
        "Table('unmigrated_things', Base.metadata, Column('id', Integer, primary_key=True))\n"
        "sys.exit(main(['check']))\n"
    )
    result = await asyncio.to_thread(commands.run_python, code, env={"DATABASE_URL": erp_db_url})

    assert result.returncode == 1
    # Alembic's log lines (it had connected) come first; the verdict is the last line.
    assert result.stderr.splitlines()[-1] == (
        "erp-db: check: models and migrations differ, a revision is due: add_table unmigrated_things"
    )


async def test_two_concurrent_upgrades_both_succeed_and_stamp_once(
    empty_database: str, commands, migration_lock_holder, open_connection
) -> None:
    holder = await migration_lock_holder(empty_database)
    await holder.hold()
    runs = [commands.start_erp_db("upgrade", env={"DATABASE_URL": empty_database}) for _ in range(2)]
    try:
        await holder.wait_for_waiters(2)  # both started and queued behind the lock
    finally:
        await holder.release()
    outcomes = [await asyncio.to_thread(run.communicate, timeout=60) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outcomes
    waited = [stderr for _, stderr in outcomes if "waiting for the migration lock" in stderr]
    assert len(waited) == 2
    database = await open_connection(empty_database)
    assert list(await database.scalars(text("SELECT version_num FROM alembic_version"))) == [shipped_head()]


@pytest.mark.parametrize(
    ("arguments", "database_url", "status", "message"),
    [
        (["upgrade"], None, 2, r"invalid configuration: DATABASE_URL: Field required"),
        (["upgrade"], f"postgresql://erp:{PASSWORD}@127.0.0.1:notaport/erp", 2, r"DATABASE_URL: not a URL"),
        (["current"], f"mysql://erp:{PASSWORD}@127.0.0.1/erp", 2, r"DATABASE_URL: unsupported scheme"),
        # URLs that parse but could never connect: refused as configuration, not a traceback.
        (["upgrade"], f"postgresql://erp:{PASSWORD}@127.0.0.1:99999/erp", 2, r"DATABASE_URL: the port"),
        (["upgrade"], f"postgresql://erp:{PASSWORD}@127.0.0.1:-1/erp", 2, r"DATABASE_URL: the port"),
        (["current"], f"postgresql://erp:{PASSWORD}@127.0.0.1/erp?ssl=bogus", 2, r"DATABASE_URL: ssl must"),
        (
            ["check"],
            f"postgresql://erp:{PASSWORD}@127.0.0.1/erp?target_session_attrs=bogus",
            2,
            r"DATABASE_URL: target_session_attrs must",
        ),
        (
            ["upgrade"],
            f"postgresql://erp:{PASSWORD}@127.0.0.1/erp?prepared_statement_cache_size=abc",
            2,
            r"DATABASE_URL: prepared_statement_cache_size must",
        ),
        (
            ["upgrade"],
            f"postgresql://erp:{PASSWORD}@127.0.0.1/erp?ssl=require&ssl=disable",
            2,
            r"DATABASE_URL: query parameter\(s\) ssl given more than once",
        ),
        (["current"], f"postgresql://erp:{PASSWORD}@127.0.0.1/erp", 2, r"TIME_ZONE: not a known"),
        (
            ["upgrade"],
            f"postgresql://erp:{PASSWORD}@127.0.0.1:1/erp",
            1,
            r"upgrade failed \(PostgreSQL at 127\.0\.0\.1:1\): ConnectionRefusedError",
        ),
        (
            ["check"],
            f"postgresql://erp:{PASSWORD}@no-such-host.invalid:5432/erp",
            1,
            r"check failed \(PostgreSQL at no-such-host\.invalid:5432\): gaierror",
        ),
    ],
)
def test_failures_are_one_readable_line_without_the_password(
    commands, arguments: list[str], database_url: str | None, status: int, message: str
) -> None:
    env = {} if database_url is None else {"DATABASE_URL": database_url}
    if message.startswith("TIME_ZONE"):
        env["TIME_ZONE"] = "America"  # a zone directory: once an IsADirectoryError "run-time failure"
    result = commands.run_erp_db(*arguments, env=env)

    assert result.returncode == status
    [line] = result.stderr.splitlines()
    assert re.match(rf"erp-db: .*{message}", line), line
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_an_unknown_revision_is_named_in_the_last_line(commands, admin_url: str) -> None:
    env = {"DATABASE_URL": with_password(admin_url)}  # trust auth: the password is never checked
    result = commands.run_erp_db("upgrade", "no-such-revision", env=env)

    assert result.returncode == 1
    assert (
        result.stderr.splitlines()[-1]
        == "erp-db: upgrade: Can't locate revision identified by 'no-such-revision'"
    )
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_an_unknown_role_is_named_without_the_password(commands, admin_url: str) -> None:
    # The local server trusts every connection, so a refused login is shown
    # with a role it does not know: the same path as a wrong password.
    url = make_url(admin_url).set(username="erp_no_such_role", password=PASSWORD)
    result = commands.run_erp_db("upgrade", env={"DATABASE_URL": url.render_as_string(hide_password=False)})

    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.endswith('InvalidAuthorizationSpecificationError: role "erp_no_such_role" does not exist')
    assert PASSWORD not in result.stdout + result.stderr


def test_a_missing_database_is_named_without_the_password(commands, admin_url: str) -> None:
    url = make_url(with_password(admin_url)).set(database="erp_db_no_such_database")
    env = {"DATABASE_URL": url.render_as_string(hide_password=False)}
    result = commands.run_erp_db("current", env=env)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"erp-db: current failed (PostgreSQL at {url.host}:{url.port or 5432}): "
        'InvalidCatalogNameError: database "erp_db_no_such_database" does not exist'
    ]
    assert PASSWORD not in result.stdout + result.stderr


def copy_package(destination: Path) -> Path:
    shutil.copytree(PACKAGE_DIR, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def run_module(commands, python_path: Path, *args: str):
    return commands.run(sys.executable, "-m", "erp_db.cli", *args, env={"PYTHONPATH": str(python_path)})


def test_revision_refuses_an_installed_package(commands, tmp_path: Path) -> None:
    # A copy of the package in a site-packages-like directory, first on the
    # path: what a wheel install looks like to the code.
    site_packages = tmp_path / "site-packages"
    package = copy_package(site_packages / "erp_db")
    versions_before = sorted((package / "migrations" / "versions").iterdir())

    result = run_module(commands, site_packages, "revision", "-m", "add customers")

    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "writes new migrations into the source checkout" in line
    assert str(package) in line
    assert sorted((package / "migrations" / "versions").iterdir()) == versions_before


def test_revision_writes_a_date_stamped_file_into_a_source_checkout(commands, tmp_path: Path) -> None:
    project = tmp_path / "erp-db"
    package = copy_package(project / "src" / "erp_db")
    shutil.copy(PROJECT_DIR / "pyproject.toml", project / "pyproject.toml")

    result = run_module(commands, project / "src", "revision", "-m", "add customers")

    assert result.returncode == 0, result.stderr
    [new_file] = (package / "migrations" / "versions").glob("*_add_customers.py")
    assert re.fullmatch(r"\d{4}_\d{2}_\d{2}_\d{4}-[0-9a-f]{12}_add_customers\.py", new_file.name)
    assert f"down_revision: str | Sequence[str] | None = {shipped_head()!r}" in new_file.read_text()
