"""A private PostgreSQL server for the resilience tests, started from the machine's binaries.

The tests stop and restart it at will, which the shared development server
must never suffer. It lives in a temporary data directory, listens on a free
port of 127.0.0.1 only, trusts local connections and skips ``fsync``: it is
disposable. Written here because pytest-postgresql, the usual process
fixture, is not among the project's test dependencies.

Where the binaries are: ``PG_BINDIR`` when set; otherwise ``pg_config
--bindir`` when it holds ``initdb`` (Debian's ``pg_config`` is in the client
package and may point elsewhere); otherwise the newest
``/usr/lib/postgresql/*/bin`` (Debian and Ubuntu keep the server there, off
``PATH``). ``initdb`` and ``postgres`` refuse to run as root, so as root they
run as the ``postgres`` account (the server package creates it), in a data
directory handed to that account.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from erp_core.testing import free_port

SERVER_ACCOUNT = "postgres"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


def find_bindir() -> Path:
    """Where ``initdb``, ``postgres`` and ``pg_isready`` are; a RuntimeError says where it looked."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    if shutil.which("pg_config"):
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        if bindir.returncode == 0:
            candidates.append(Path(bindir.stdout.strip()))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version(p.parent.name))
    candidates.extend(reversed(debian))
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates) or "nowhere"
    raise RuntimeError(f"no PostgreSQL server binaries (initdb, postgres) found; looked in: {looked}")


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


class PostgresServer:
    """One disposable PostgreSQL server: :meth:`start`, :meth:`stop`, :meth:`stopped`, :meth:`remove`."""

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.port = free_port()
        self.datadir = Path(tempfile.mkdtemp(prefix="erp-resilience-pg-"))
        self.log_path = self.datadir.parent / f"{self.datadir.name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._account: dict[str, Any] = {}  # Popen's user/group: who the server runs as
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_ACCOUNT)  # KeyError: no postgres account to run as
            self._account = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
            os.chown(self.datadir, account.pw_uid, account.pw_gid)
        self._run(
            [str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
        )  # fmt: skip

    @property
    def admin_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and return once it accepts queries."""
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port),
                 "-h", "127.0.0.1", "-k", str(self.datadir),
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 # Whose connection a log line is about: the tests read it.
                 "-c", "log_line_prefix=%m [%p] app=%a ", "-c", "log_connections=off"],
                stdout=log, stderr=subprocess.STDOUT, env=self._env(), **self._account,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self._process.returncode}: {self.log_tail()}")
            isready = [str(self.bindir / "pg_isready"), "-q", "-U", "postgres", "-h", "127.0.0.1"]
            ready = subprocess.run([*isready, "-p", str(self.port)], check=False)
            if ready.returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError(f"postgres did not accept connections within {START_TIMEOUT_S:g} s")

    def stop(self) -> None:
        """Fast shutdown, as an orchestrator or an operator stops it: clients are disconnected."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """Stopped for the block, started again after it (even when the block fails)."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _run(self, argv: list[str]) -> None:
        result = subprocess.run(
            argv, capture_output=True, text=True, env=self._env(), check=False, **self._account
        )
        if result.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed ({result.returncode}): {result.stderr.strip()}")

    def _env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "LC_ALL": "C"}
