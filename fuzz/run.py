"""``nox -s fuzz``: schemathesis against the running service's own OpenAPI document.

Starts ``erp-api serve`` (``ENVIRONMENT=test``, so the document is served) on
a throwaway migrated database of ``TEST_DATABASE_URL`` and the Redis of
``TEST_REDIS_URL``, and runs the schemathesis CLI against
``/openapi.json`` twice, each bounded in time:

1. healthy, with every check that applies: no 5xx, statuses, content types,
   headers and bodies as documented (the problem+json shape of errors
   included), 405 with ``Allow`` for methods not listed, plus the contract
   checks of :mod:`contract_checks`;
2. degraded, Redis pointing at a closed port: readiness now answers its
   documented 503, whose body must still match the document (``not a
   server error`` is left out of this pass alone, by design).

Exits non-zero when schemathesis finds a failure, when the service logged
an error (an unhandled exception) or when it did not exit 0 on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from erp_core.testing import free_port
from erp_db.testing import admin_url_from_env, temporary_database

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
CONTRACT_CHECKS = ["errors_are_problem_details", "every_answer_carries_request_id_and_security_headers"]
CONFORMANCE_CHECKS = [
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    *CONTRACT_CHECKS,
]
HEALTHY_CHECKS = ["not_a_server_error", *CONFORMANCE_CHECKS, "unsupported_method"]


def _say(message: str) -> None:
    sys.stdout.write(f"fuzz: {message}\n")
    sys.stdout.flush()


class Service:
    """``erp-api serve`` on a free port, its JSON log lines in ``log_path``."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        keep = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
        argv = [str(BIN / "erp-api"), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 -- our own command, no shell
                argv, env={**keep, **env}, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def schema_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/openapi.json"

    def wait_for_schema(self, deadline_s: float = 30.0) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"erp-api serve exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.schema_url, timeout=5):  # noqa: S310 -- http on localhost
                    return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise RuntimeError("erp-api serve never served its OpenAPI document")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def records(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log_path.read_text(errors="replace").splitlines()]

    def errors_logged(self) -> list[dict[str, object]]:
        return [record for record in self.records() if record.get("level") in {"ERROR", "CRITICAL"}]

    def statuses(self) -> collections.Counter[object]:
        """How many answers of each status the access log shows."""
        return collections.Counter(
            record["status_code"] for record in self.records() if record.get("logger") == "erp_api.access"
        )


def _schemathesis(
    service: Service, checks: Sequence[str], seconds: float, seed: int | None, workdir: Path
) -> int:
    argv = [
        str(BIN / "schemathesis"), "run", service.schema_url,
        "--checks", ",".join(checks),
        "--max-time", f"{seconds:g}",
        "--request-timeout", "10",
    ]  # fmt: skip
    if seed is not None:
        argv += ["--seed", str(seed)]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HERE / "contract_checks.py")}
    # In a scratch directory: schemathesis keeps a .schemathesis/ cache where it runs.
    return subprocess.run(argv, env=env, cwd=workdir, check=False).returncode  # noqa: S603 -- our own command


def _fuzz_pass(
    name: str,
    env: dict[str, str],
    checks: Sequence[str],
    seconds: float,
    seed: int | None,
    logs: Path,
    *,
    expect_status: int,
) -> list[str]:
    """Run one pass; the list of what went wrong (empty when it passed).

    ``expect_status`` must show up in the access log: a pass that never saw
    the answers it is about proves nothing.
    """
    _say(f"{name} pass: {seconds:g} s, checks {', '.join(checks)}")
    service = Service(env, logs / f"{name}.log")
    problems = []
    try:
        service.wait_for_schema()
        if _schemathesis(service, checks, seconds, seed, logs) != 0:
            problems.append(f"{name}: schemathesis reported failures")
    finally:
        status = service.stop()
    if status != 0:
        problems.append(f"{name}: erp-api serve exited {status} on SIGTERM")
    problems += [f"{name}: the service logged an error: {record}" for record in service.errors_logged()]
    statuses = service.statuses()
    _say(f"{name} pass: {sum(statuses.values())} answers, by status {dict(sorted(statuses.items()))}")
    if not statuses[expect_status]:
        problems.append(f"{name}: no {expect_status} answer was provoked")
    return problems


async def _run(args: argparse.Namespace) -> list[str]:
    redis_url = os.environ.get("TEST_REDIS_URL") or DEFAULT_REDIS_URL
    async with temporary_database(admin_url_from_env()) as database_url:
        base = {
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "INFO",
            "APP_NAME": "erp-api-fuzz",
            "DATABASE_URL": database_url,
            "HEALTH_CHECK_TIMEOUT_S": "1.0",
        }
        with tempfile.TemporaryDirectory(prefix="erp-fuzz-") as scratch:
            logs = Path(scratch)
            healthy = {**base, "APP_CACHE_REDIS_URL": redis_url}
            problems = _fuzz_pass(
                "healthy", healthy, HEALTHY_CHECKS, args.max_time, args.seed, logs, expect_status=200
            )
            closed_port = free_port()  # nothing listens there: Redis is "down"
            degraded = {**base, "APP_CACHE_REDIS_URL": f"redis://127.0.0.1:{closed_port}/0"}
            problems += _fuzz_pass(
                "degraded",
                degraded,
                CONFORMANCE_CHECKS,
                args.degraded_time,
                args.seed,
                logs,
                expect_status=503,
            )
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz erp-api serve from its OpenAPI document.")
    parser.add_argument("--max-time", type=float, default=45, help="seconds for the healthy pass")
    parser.add_argument("--degraded-time", type=float, default=15, help="seconds for the degraded pass")
    parser.add_argument("--seed", type=int, default=None, help="schemathesis seed, to replay a run")
    args = parser.parse_args(argv)
    problems = asyncio.run(_run(args))
    for problem in problems:
        _say(f"FAILED {problem}")
    _say("passed" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
