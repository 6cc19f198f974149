"""``erp-api users create``: the first account of a fresh installation (docs/contract.md §9).

The password comes from the first line of standard input when that is not
a terminal (``printf '%s\\n' "$PASSWORD" | erp-api users create …``), else
from a prompt, asked twice; never from the command line or the
environment, where ``ps`` and ``/proc/<pid>/environ`` would show it. The
command prints the new user's id; a taken email, a bad email or a password
outside 8 to 128 characters ends it with one line on stderr and status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import uuid
from typing import Any, TextIO

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import SQLAlchemyError

from erp_api.features.identity.audit_hook import record_user_event
from erp_api.features.identity.passwords import PasswordPolicyError, check_password_policy, hash_password
from erp_api.features.identity.users import create_user
from erp_core import ConfigurationError, describe_error
from erp_db import DatabaseSettings, create_sessionmaker, engine_from_settings, session_scope

APPLICATION_NAME = "erp-api users"


class CommandFailed(Exception):
    """Ends the command with its message as the one line on stderr."""


def add_users_command(commands: Any) -> None:
    """Add ``users create`` to the ``erp-api`` parser's subcommands (``add_subparsers()``'s result)."""
    users = commands.add_parser("users", help="manage user accounts")
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create a user; the password is read from stdin (first line) or prompted for",
        description="Create a user and print its id. The password is read from the first line of "
        "standard input when it is not a terminal, else prompted for twice.",
    )
    create.add_argument("--email", required=True, help="the user's email (their login)")
    create.add_argument("--full-name", default="", help="the user's name (default: empty)")
    create.add_argument("--superuser", action="store_true", help="may administer users")


def run_users_command(args: argparse.Namespace, *, stdin: TextIO | None = None) -> int:
    stdin = stdin if stdin is not None else sys.stdin
    try:
        email = _checked_email(args.email)
        password = _read_password(stdin)
        check_password_policy(password)
        try:
            settings = DatabaseSettings()
        except ConfigurationError as exc:
            sys.stderr.write(f"erp-api: {exc}\n")
            return 2
        user_id = asyncio.run(
            _create(
                settings, email=email, password=password, full_name=args.full_name, superuser=args.superuser
            )
        )
    except (CommandFailed, PasswordPolicyError) as exc:
        sys.stderr.write(f"erp-api: users create: {exc}\n")
        return 1
    sys.stdout.write(f"{user_id}\n")
    return 0


def _checked_email(email: str) -> str:
    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError:
        raise CommandFailed("--email is not a valid email address") from None


def _read_password(stdin: TextIO) -> str:
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat the password: ") != first:
            raise CommandFailed("the two passwords differ")
        return first
    line = stdin.readline()
    if not line:
        raise CommandFailed("no password on standard input")
    return line.rstrip("\r\n")  # only the line break: spaces belong to the password


async def _create(
    settings: DatabaseSettings, *, email: str, password: str, full_name: str, superuser: bool
) -> uuid.UUID:
    password_hash = await hash_password(password)
    engine = engine_from_settings(settings, application_name=APPLICATION_NAME)
    try:
        async with session_scope(create_sessionmaker(engine)) as session:
            user = await create_user(
                session, email=email, password_hash=password_hash, full_name=full_name, is_superuser=superuser
            )
            if user is None:
                raise CommandFailed("a user with this email exists")
            await record_user_event(
                session,
                action="user.created",
                actor_user_id=None,
                user_id=user.id,
                changes={
                    "email": (None, user.email),
                    "full_name": (None, user.full_name),
                    "is_superuser": (None, user.is_superuser),
                },
            )
            return user.id
    except (OSError, SQLAlchemyError) as exc:
        raise CommandFailed(f"the database refused or could not be reached: {describe_error(exc)}") from None
    finally:
        await engine.dispose()
