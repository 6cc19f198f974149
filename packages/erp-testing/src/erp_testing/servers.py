"""Private PostgreSQL and Redis servers, started from the machine's binaries, for one test run.

A test that stops, restarts or hangs a server must never do it to the shared
development one; a run on a machine with the binaries but no running server
starts its own (:mod:`erp_api_testing.plugin`). Here, in erp-testing, so that
every service's tests (erp-api's, erp-worker's) can stop the servers under
them, and no runtime wheel carries them. Each server lives in a
temporary directory, listens on a free port of 127.0.0.1 only, trusts local
connections and skips ``fsync``: it is disposable. Written here because
pytest-postgresql and pytest-redis are pytest plugins, and these are also
used by scripts (``benchmarks/``) and by other process drills.

Where PostgreSQL's binaries are: ``PG_BINDIR`` when set; otherwise
``pg_config --bindir`` when it holds ``initdb`` (Debian's ``pg_config`` is
in the client package and may point elsewhere); otherwise the newest
``/usr/lib/postgresql/*/bin`` (Debian and Ubuntu keep the server there, off
``PATH``). ``initdb`` and ``postgres`` refuse to run as root, so as root they
run as the ``postgres`` account (the server package creates it), in a data
directory handed to that account. Redis is ``redis-server`` on ``PATH``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from erp_core.testing import free_port

POSTGRES_ACCOUNT = "postgres"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
HOST = "127.0.0.1"


def find_postgres_bindir() -> Path:
    """Where ``initdb``, ``postgres`` and ``pg_isready`` are; a RuntimeError says where it looked."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    if shutil.which("pg_config"):
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)  # noqa: S607
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


class ServerProcess:
    """What both servers share: a data directory, a log file, start until ready, stop by signal."""

    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self) -> None:
        self.host = HOST
        self.port = free_port()
        self.datadir = Path(tempfile.mkdtemp(prefix=f"erp-test-{self.name}-"))
        self.log_path = self.datadir.parent / f"{self.datadir.name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._account: dict[str, Any] = {}  # Popen's user/group: who the server runs as

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _argv(self) -> Sequence[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        """Start the server and return once it answers."""
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 -- the server binary, no shell
                self._argv(), stdout=log, stderr=subprocess.STDOUT, env=self._env(), **self._account
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._process.returncode}: {self.log_tail()}")
            if self._ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer within {START_TIMEOUT_S:g} s: {self.log_tail()}")

    def stop(self) -> None:
        """Stop as an operator would (clients are disconnected); killed if it does not exit in time."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(self.stop_signal)
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
        """Stop, and delete the data directory and the log."""
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "LC_ALL": "C"}


class PostgresServer(ServerProcess):
    """One disposable PostgreSQL server, initialised at construction; ``admin_url`` reaches it."""

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: what an orchestrator's stop amounts to

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_postgres_bindir()
        super().__init__()
        if os.geteuid() == 0:
            account = pwd.getpwnam(POSTGRES_ACCOUNT)  # KeyError: no postgres account to run as
            self._account = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
            os.chown(self.datadir, account.pw_uid, account.pw_gid)
        initdb = subprocess.run(  # noqa: S603 -- the server's own initdb, no shell
            [str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            capture_output=True, text=True, env=self._env(), check=False, **self._account,
        )  # fmt: skip
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed ({initdb.returncode}): {initdb.stderr.strip()}")

    @property
    def admin_url(self) -> str:
        """An asyncpg URL as the superuser ``postgres``, to the ``postgres`` database."""
        return f"postgresql+asyncpg://postgres@{self.host}:{self.port}/postgres"

    def _argv(self) -> Sequence[str]:
        return [
            str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port),
            "-h", self.host, "-k", str(self.datadir),
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            # Whose connection a log line is about: tests read it.
            "-c", "log_line_prefix=%m [%p] app=%a ", "-c", "log_connections=off",
        ]  # fmt: skip

    def _ready(self) -> bool:
        isready = [str(self.bindir / "pg_isready"), "-q", "-U", "postgres", "-h", self.host]
        return subprocess.run([*isready, "-p", str(self.port)], check=False).returncode == 0  # noqa: S603


class RedisServer(ServerProcess):
    """One disposable Redis server without persistence; ``url`` reaches its database 0."""

    name = "redis"

    def __init__(self, binary: str | None = None) -> None:
        found = binary or shutil.which("redis-server")
        if found is None:
            raise RuntimeError("no redis-server found on PATH")
        self.binary = found
        super().__init__()

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def _argv(self) -> Sequence[str]:
        return [
            self.binary, "--port", str(self.port), "--bind", self.host, "--dir", str(self.datadir),
            "--save", "", "--appendonly", "no", "--protected-mode", "yes",
        ]  # fmt: skip

    def _ready(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False
