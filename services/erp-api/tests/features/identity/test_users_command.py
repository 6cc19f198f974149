"""``erp-api users create`` (docs/contract.md §9): password from stdin or a prompt, never argv or env."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from pwdlib import PasswordHash
from sqlalchemy import select as sql_select
from sqlalchemy.ext.asyncio import AsyncEngine

from erp_api_testing.identity import unique_email
from erp_db import User

ERP_API = str(Path(sys.executable).parent / "erp-api")
PASSWORD = "correct horse battery staple"


def run(erp_db_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": erp_db_url}
    return subprocess.run(
        [ERP_API, "users", "create", *args], input=stdin, env=env, capture_output=True, text=True, timeout=120
    )


async def stored(engine: AsyncEngine, user_id: str) -> User | None:
    async with engine.connect() as connection:
        row = (await connection.execute(sql_select(User).where(User.id == uuid.UUID(user_id)))).first()
    return None if row is None else User(**row._mapping)


async def test_it_reads_the_first_line_of_stdin_and_prints_the_id(
    erp_db_url: str, erp_db_engine: AsyncEngine
) -> None:
    email = unique_email("cli")

    result = run(
        erp_db_url,
        "--email",
        email,
        "--full-name",
        "Ops Admin",
        "--superuser",
        stdin=f"{PASSWORD}\nignored\n",
    )

    assert result.returncode == 0, result.stderr
    user = await stored(erp_db_engine, result.stdout.strip())
    assert user is not None
    assert user.email == email
    assert user.full_name == "Ops Admin"
    assert user.is_superuser
    assert PasswordHash.recommended().verify(PASSWORD, user.password_hash)
    assert PASSWORD not in result.stdout + result.stderr


async def test_a_taken_email_or_a_bad_password_is_one_line_and_a_failure(erp_db_url: str) -> None:
    email = unique_email("cli")
    assert run(erp_db_url, "--email", email, stdin=PASSWORD + "\n").returncode == 0

    answers = {
        "taken": run(erp_db_url, "--email", email.upper(), stdin=PASSWORD + "\n"),
        "short": run(erp_db_url, "--email", unique_email(), stdin="short\n"),
        "long": run(erp_db_url, "--email", unique_email(), stdin="x" * 129 + "\n"),
        "none": run(erp_db_url, "--email", unique_email(), stdin=""),
        "bad email": run(erp_db_url, "--email", "not an email", stdin=PASSWORD + "\n"),
    }

    for name, result in answers.items():
        assert result.returncode != 0, name
        assert result.stdout == "", name
        assert len(result.stderr.strip().splitlines()) == 1, (name, result.stderr)
        assert result.stderr.startswith("erp-api: "), name
        assert PASSWORD not in result.stderr, name


def test_there_is_no_password_option(erp_db_url: str) -> None:
    result = run(erp_db_url, "--email", unique_email(), "--password", PASSWORD)

    assert result.returncode == 2  # argparse refuses it: no account is made
    assert "unrecognized arguments" in result.stderr


def _run_in_terminal(erp_db_url: str, email: str, answers: list[str]) -> tuple[int, str]:
    """Run the command with a pseudo-terminal as stdin, answering each prompt in turn."""
    env = {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": erp_db_url}
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec the command on the terminal
        os.execve(ERP_API, [ERP_API, "users", "create", "--email", email], env)  # noqa: S606
    output = since_answer = b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            since_answer += chunk
            if answers and since_answer.endswith(b": "):  # a prompt, waiting
                os.write(fd, answers.pop(0).encode() + b"\n")
                since_answer = b""
    finally:
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_on_a_terminal_it_prompts_twice_without_echo(erp_db_url: str) -> None:
    status, output = _run_in_terminal(erp_db_url, unique_email("tty"), [PASSWORD, PASSWORD])

    assert status == 0, output
    assert "Password:" in output
    assert "Repeat the password:" in output
    assert PASSWORD not in output  # getpass does not echo
    uuid.UUID(output.strip().splitlines()[-1])


def test_on_a_terminal_two_different_passwords_fail(erp_db_url: str) -> None:
    status, output = _run_in_terminal(erp_db_url, unique_email("tty"), [PASSWORD, PASSWORD + "!"])

    assert status == 1
    assert "the two passwords differ" in output
