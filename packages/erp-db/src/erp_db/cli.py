"""The ``erp-db`` command: apply, inspect and write the database migrations.

Operators run ``erp-db upgrade`` before (or as) a release; developers add
revisions with ``erp-db revision``. Settings come from the environment (or
``.env``): ``DATABASE_URL`` for the commands that connect, ``LOG_LEVEL`` and
``LOG_FORMAT`` for the log lines, which go to stderr so that stdout carries
only the command's own output (``current``, ``history``, ``--sql``).

A failure an operator can act on (bad configuration, unreachable server,
unknown revision, drift between models and migrations) ends with exactly one
line on stderr, no traceback, and exit status 2 for configuration or usage,
1 for anything that went wrong at run time. The line names the server by
host and port; a password never appears in it. A traceback means a bug.
"""

from __future__ import annotations

import argparse
import logging.config
import sys
from collections.abc import Callable, Sequence
from typing import Final

from alembic import command
from alembic.util import CommandError
from sqlalchemy import URL
from sqlalchemy.exc import SQLAlchemyError

from erp_core import (
    ConfigurationError,
    CoreSettings,
    ErpError,
    ErpSettings,
    escape_control_characters,
    logging_config,
)
from erp_db.database_url import server_address
from erp_db.errors import NotEditableInstallError, describe_database_error
from erp_db.schema_migrations import alembic_config, check_migrations, create_revision, downgrade, upgrade
from erp_db.settings import DatabaseSettings

EXIT_RUNTIME: Final = 1
EXIT_CONFIGURATION: Final = 2
EXIT_INTERRUPTED: Final = 130

SQL_HELP: Final = "print the SQL instead of running it (needs no database)"

# What a run may meet: our errors, Alembic's (an unknown revision), SQLAlchemy's
# (the driver's errors wrapped) and the socket's (refused, unknown host, timeout).
_RUNTIME_ERRORS = (ErpError, CommandError, SQLAlchemyError, OSError)


class CommandSettings(ErpSettings):
    """What a connecting command reads; both parts validated together, so every bad variable shows."""

    core: CoreSettings
    database: DatabaseSettings


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``erp-db`` with ``argv`` (default: the process's arguments) and return its exit status."""
    args = build_parser().parse_args(argv)
    url: URL | None = None
    try:
        if _connects(args):
            settings = CommandSettings()
            core, url = settings.core, settings.database.sqlalchemy_url
            args.pgbouncer = settings.database.pgbouncer
        else:
            core = CoreSettings()
        _configure_logging(core)
        args.run(args, url)
    except ConfigurationError as exc:
        problems = "; ".join(f"{name}: {reason}" for name, reason in exc.problems.items())
        return _fail(f"invalid configuration: {problems}", EXIT_CONFIGURATION, url)
    except NotEditableInstallError as exc:
        return _fail(str(exc), EXIT_CONFIGURATION, url)
    except _RUNTIME_ERRORS as exc:
        return _fail(_runtime_reason(args.command, exc, url), EXIT_RUNTIME, url)
    except KeyboardInterrupt:
        return _fail(f"{args.command}: interrupted", EXIT_INTERRUPTED, url)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erp-db",
        description="Apply and inspect the ERP database migrations shipped in the erp-db package.",
        epilog="Reads DATABASE_URL from the environment or .env. "
        "Exit status: 0 ok, 1 failure, 2 configuration or usage.",
    )
    parser.set_defaults(pgbouncer=False)  # DATABASE_PGBOUNCER, for the commands that connect
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = _add(commands, "upgrade", "migrate the database up (default: to head)", _run_upgrade)
    up.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    up.add_argument("--sql", action="store_true", help=SQL_HELP)

    down = _add(commands, "downgrade", "migrate the database down to REVISION", _run_downgrade)
    down.add_argument("revision", help="target revision ('base' undoes all); with --sql a range FROM:TO")
    down.add_argument("--sql", action="store_true", help=SQL_HELP)

    _add(commands, "current", "print the revision the database is at", _run_current)
    _add(commands, "history", "list the shipped revisions, newest first", _run_history)
    _add(commands, "check", "fail (status 1) when the models and the migrations differ", _run_check)

    new = _add(commands, "revision", "write a new revision file (source checkout only)", _run_revision)
    new.add_argument("-m", "--message", required=True, help="what the revision does, e.g. 'add customers'")
    new.add_argument("--autogenerate", action="store_true", help="diff the models against the database")
    return parser


def _add(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    run: Callable[[argparse.Namespace, URL | None], None],
) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=summary, description=summary)
    parser.set_defaults(run=run)
    return parser


def _connects(args: argparse.Namespace) -> bool:
    """Whether the command needs DATABASE_URL: ``--sql``, history and a plain revision do not."""
    if args.command == "history":
        return False
    if args.command == "revision":
        return bool(args.autogenerate)
    return not getattr(args, "sql", False)


def _run_upgrade(args: argparse.Namespace, url: URL | None) -> None:
    if url is None:
        command.upgrade(alembic_config(), args.revision, sql=True)
    else:
        upgrade(url, args.revision, pgbouncer=args.pgbouncer)


def _run_downgrade(args: argparse.Namespace, url: URL | None) -> None:
    if url is None:
        command.downgrade(alembic_config(), args.revision, sql=True)
    else:
        downgrade(url, args.revision, pgbouncer=args.pgbouncer)


def _run_current(args: argparse.Namespace, url: URL | None) -> None:
    command.current(alembic_config(url, pgbouncer=args.pgbouncer))


def _run_history(args: argparse.Namespace, url: URL | None) -> None:
    command.history(alembic_config())


def _run_check(args: argparse.Namespace, url: URL | None) -> None:
    assert url is not None
    check_migrations(url, pgbouncer=args.pgbouncer)
    sys.stdout.write("models and migrations agree\n")


def _run_revision(args: argparse.Namespace, url: URL | None) -> None:
    create_revision(args.message, autogenerate=args.autogenerate, url=url)


def _configure_logging(core: CoreSettings) -> None:
    # erp-core's configuration (formats, filters, levels) with every handler
    # rebuilt to write to stderr: stdout is this command's product (SQL, revisions).
    config = logging_config(core.log_level, core.log_format)
    for handler in config["handlers"].values():
        for constructor_key in ("()", "class", "stream"):
            handler.pop(constructor_key, None)
        handler.update({"class": "logging.StreamHandler", "stream": "ext://sys.stderr"})
    logging.config.dictConfig(config)


def _runtime_reason(command_name: str, exc: BaseException, url: URL | None) -> str:
    if isinstance(exc, (ErpError, CommandError)):
        # Messages written for people (ours, Alembic's): whole, first line only.
        text = str(exc).strip()
        return f"{command_name}: {text.splitlines()[0] if text else type(exc).__name__}"
    where = f" (PostgreSQL at {server_address(url)})" if url is not None else ""
    return f"{command_name} failed{where}: {describe_database_error(exc)}"


def _fail(message: str, status: int, url: URL | None) -> int:
    line = escape_control_characters(message)
    if url is not None and url.password:
        line = line.replace(str(url.password), "***")  # belt and braces: no driver message should hold it
    sys.stderr.write(f"erp-db: {line}\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
