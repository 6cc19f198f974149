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
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from erp_api_testing import ServiceProcess
from erp_core.testing import free_port
from erp_db.testing import admin_url_from_env, temporary_database

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
SCHEMA_PATH = "/openapi.json"
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


def _errors_logged(service: ServiceProcess) -> list[dict[str, object]]:
    return [record for record in service.log_records() if record.get("level") in {"ERROR", "CRITICAL"}]


def _statuses(service: ServiceProcess) -> collections.Counter[object]:
    """How many answers of each status the access log shows."""
    return collections.Counter(
        record["status_code"] for record in service.log_records() if record.get("logger") == "erp_api.access"
    )


def _schemathesis(
    service: ServiceProcess, checks: Sequence[str], seconds: float, seed: int | None, workdir: Path
) -> int:
    argv = [
        str(BIN / "schemathesis"), "run", f"{service.base_url}{SCHEMA_PATH}",
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
    service = ServiceProcess(env, logs, name=name).start()
    problems = []
    try:
        service.wait_for(SCHEMA_PATH)
        if _schemathesis(service, checks, seconds, seed, logs) != 0:
            problems.append(f"{name}: schemathesis reported failures")
    finally:
        status = service.stop()
    if status != 0:
        problems.append(f"{name}: erp-api serve exited {status} on SIGTERM")
    problems += [f"{name}: the service logged an error: {record}" for record in _errors_logged(service)]
    statuses = _statuses(service)
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
