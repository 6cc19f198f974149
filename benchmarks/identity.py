"""Identity under load: ``GET /users/me`` against a bare baseline, and health checks during logins.

``python benchmarks/identity.py`` from the bench's environment (``nox -s
bench`` runs it after ``run.py``: erp-api installed, ``wrk`` on the path).
Two servers under the same uvicorn settings, one worker each, pinned to
CPU 0, on one throwaway database: ``erp-api serve`` in production settings
(every middleware, JSON access log) and :mod:`bare_identity` (PyJWT and
one primary-key read through SQLAlchemy async, nothing else). Two ratios
(docs/contract.md §9, issue 12):

- ``me``: authenticated ``GET /api/v1/users/me`` on the service over the
  baseline's ``GET /users/me``, the same token: target >= 0.90;
- ``live during logins``: the service's ``/healthz/live`` while 4 clients
  log in back to back (4 ``wrk -c1`` posting the password form: an argon2id
  verification each) over ``/healthz/live`` alone: target >= 0.50. Hashing
  runs off the event loop, on threads of lower priority, so it must not
  starve it.

wrk (CPU 1) warms up, then interleaved rounds; the table shows medians.
Exit status 1 on a non-2xx answer or a socket error; a missed ratio prints
MISSED and fails only with ``--strict``. Figures go to
``.bench/identity-latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import dataclasses
import datetime
import json
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from erp_api.features.identity.passwords import hash_password
from erp_api.features.identity.tokens import issue_access_token
from erp_db.testing import temporary_database
from load import REPORT_SCRIPT, LoadResult, run_wrk
from servers import Server

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
OUTPUT_DIR = ROOT / ".bench"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
APP_NAME = "erp-api-bench"
JWT_SECRET_KEY = "bench-only-jwt-secret-key-of-at-least-32-bytes"  # noqa: S105 (a throwaway bench key)
PASSWORD = "bench password, not a secret"  # noqa: S105
LOGIN_CLIENTS = 4

TARGETS = {"me": 0.90, "live during logins": 0.50}

LOGIN_SCRIPT = """
-- POST /api/v1/auth/token with the password form of one seeded user (script argument).
function init(args)
  non2xx = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.body = "username=" .. args[1] .. "&password=" .. args[2]
end
"""


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (default: %(default)s)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per route")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=2.0, help="wrk's per-request timeout, seconds")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a throughput ratio is missed too")
    # `nox -s bench -- …` hands run.py's options (--breakdown) to this script too.
    args, _ = parser.parse_known_args(argv)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: `apt-get install wrk` (Debian, Ubuntu) or `brew install wrk`")
        return 2
    admin_url = os.environ.get("TEST_DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("TEST_REDIS_URL") or DEFAULT_REDIS_URL
    with tempfile.TemporaryDirectory(prefix="erp-bench-identity-") as scratch:
        report = asyncio.run(_serve_and_measure(args, Path(scratch), admin_url, redis_url))
    OUTPUT_DIR.mkdir(exist_ok=True)
    (OUTPUT_DIR / "identity-latest.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    _print(report)
    faults = [name for name, met in report["targets"].items() if not met and not name.startswith("ratio")]
    missed = [name for name, met in report["targets"].items() if not met]
    return 1 if faults or (args.strict and missed) else 0


async def _serve_and_measure(
    args: argparse.Namespace, scratch: Path, admin_url: str, redis_url: str
) -> dict[str, Any]:
    async with temporary_database(admin_url) as database_url:
        user_id, login_emails = await _seed(database_url)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": database_url,
            "APP_CACHE_REDIS_URL": redis_url,
            "APP_NAME": APP_NAME,
            "JWT_SECRET_KEY": JWT_SECRET_KEY,
        }
        service_env = {
            **env,
            "ENVIRONMENT": "production",
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
            "METRICS_PORT": "0",
            # Successful logins never count against the throttle; this keeps a
            # stray failure from turning the run into 429s.
            "LOGIN_MAX_FAILURES": "1000",
        }
        baseline_argv = [
            sys.executable, "-m", "uvicorn", "bare_identity:app", "--app-dir", str(BENCH_DIR),
            "--workers", "1", "--no-server-header", "--no-access-log",
        ]  # fmt: skip
        servers = {
            "service": Server("service", service_env, scratch),
            "baseline": Server("baseline", env, scratch, command=baseline_argv),
        }
        try:
            for server in servers.values():
                server.start()
            servers["service"].wait_for("/healthz/ready")
            servers["baseline"].wait_for("/docs")
            token = issue_access_token(user_id, key=JWT_SECRET_KEY.encode(), issuer=APP_NAME, ttl_s=3600)
            report = _measure(args, servers, token, login_emails, scratch)
        finally:
            report["exit_statuses"] = {name: server.stop() for name, server in servers.items()}
    return report


async def _seed(database_url: str) -> tuple[uuid.UUID, list[str]]:
    """The user of ``/users/me`` among 1000 others, and one user per login client."""
    engine = create_async_engine(database_url)
    user_id = uuid.uuid4()
    password_hash = await hash_password(PASSWORD)
    emails = [f"login-{n}@example.org" for n in range(LOGIN_CLIENTS)]
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO users (id, email, password_hash)"
                    " SELECT CASE WHEN n = 0 THEN CAST(:me AS uuid) ELSE gen_random_uuid() END,"
                    " 'bench-' || n || '@example.org', '!no-password' FROM generate_series(0, 1000) AS n"
                ),
                {"me": str(user_id)},
            )
            for email in emails:
                await connection.execute(
                    text("INSERT INTO users (email, password_hash) VALUES (:email, :hash)"),
                    {"email": email, "hash": password_hash},
                )
            await connection.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    return user_id, emails


def _measure(
    args: argparse.Namespace, servers: dict[str, Server], token: str, emails: list[str], scratch: Path
) -> dict[str, Any]:
    login_script = scratch / "login.lua"
    login_script.write_text(REPORT_SCRIPT.read_text() + LOGIN_SCRIPT)
    bearer = [f"Authorization: Bearer {token}"]
    wrk = {"connections": args.connections, "timeout_s": args.timeout}

    def me(server: str, duration_s: float) -> LoadResult:
        path = "/api/v1/users/me" if server == "service" else "/users/me"
        return run_wrk(servers[server], path, duration_s=duration_s, headers=bearer, **wrk)

    def live(duration_s: float) -> LoadResult:
        return run_wrk(servers["service"], "/healthz/live", duration_s=duration_s, **wrk)

    def live_during_logins(duration_s: float) -> tuple[LoadResult, list[LoadResult]]:
        # The logins start first and end last, so they cover the whole live run.
        with concurrent.futures.ThreadPoolExecutor(LOGIN_CLIENTS) as pool:
            logins = [
                pool.submit(
                    run_wrk,
                    servers["service"],
                    "/api/v1/auth/token",
                    connections=1,
                    duration_s=duration_s + 2,
                    timeout_s=10,
                    script=login_script,
                    script_args=[email, PASSWORD.replace(" ", "+").replace(",", "%2C")],
                )
                for email in emails
            ]
            started = concurrent.futures.wait(logins, timeout=1)  # let the logins get going
            assert not started.done, "a login client ended early"
            result = live(duration_s)
            return result, [login.result() for login in logins]

    runs = {
        "me service": lambda d: me("service", d),
        "me baseline": lambda d: me("baseline", d),
        "live alone": live,
    }
    warmup = {name: run(args.warmup) for name, run in runs.items()}
    rounds: dict[str, list[LoadResult]] = {name: [] for name in [*runs, "live during logins"]}
    logins: list[LoadResult] = []
    names = [*runs, "live during logins"]
    for number in range(args.rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            if name == "live during logins":
                result, login_results = live_during_logins(args.duration)
                rounds[name].append(result)
                logins += login_results
            else:
                rounds[name].append(runs[name](args.duration))
        print(
            f"round {number + 1}/{args.rounds}: "
            + ", ".join(f"{name} {results[-1].requests_per_s:,.0f}/s" for name, results in rounds.items()),
            flush=True,
        )
    medians = {name: _medians(results) for name, results in rounds.items()}
    medians["logins (each client)"] = _medians(logins)
    ratios = {
        "me": medians["me service"]["requests_per_s"] / medians["me baseline"]["requests_per_s"],
        "live during logins": medians["live during logins"]["requests_per_s"]
        / medians["live alone"]["requests_per_s"],
    }
    every_run = [r for results in rounds.values() for r in results] + list(warmup.values()) + logins
    targets = {
        **{f"ratio: {name} >= {target:.2f}": ratios[name] >= target for name, target in TARGETS.items()},
        "zero non-2xx": all(result.non_2xx == 0 for result in every_run),
        "zero socket errors": all(result.socket_errors == 0 for result in every_run),
    }
    return {
        "medians": medians,
        "ratios": ratios,
        "targets": targets,
        "settings": {
            "wrk": f"-t1 -c{args.connections} -d{args.duration:g}s --timeout {args.timeout:g}s",
            "logins": f"{LOGIN_CLIENTS} x wrk -t1 -c1 POST /api/v1/auth/token",
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "service": "ENVIRONMENT=production LOG_LEVEL=INFO LOG_FORMAT=json, metrics off",
            "baseline": "bare_identity, uvicorn --no-access-log",
        },
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def _medians(results: list[LoadResult]) -> dict[str, float]:
    figures = [
        {
            **dataclasses.asdict(r),
            "requests_per_s": r.requests_per_s,
            "cpu_us_per_request": r.cpu_us_per_request,
        }
        for r in results
    ]
    summary = {key: statistics.median(f[key] for f in figures) for key in figures[0]}
    summary["non_2xx"] = sum(f["non_2xx"] for f in figures)
    summary["socket_errors"] = sum(f["socket_errors"] for f in figures)
    return summary


def _print(report: dict[str, Any]) -> None:
    settings = report["settings"]
    print(f"\nwrk {settings['wrk']}; logins: {settings['logins']}; medians of {settings['rounds']} rounds")
    print(f"{'run':<22}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'sock err':>9}")
    for name, m in report["medians"].items():
        print(
            f"{name:<22}{m['requests_per_s']:>9,.1f}{m['p50_ms']:>9.2f}{m['p99_ms']:>9.2f}"
            f"{m['non_2xx']:>9.0f}{m['socket_errors']:>9.0f}"
        )
    print("req/s ratios: " + ", ".join(f"{name} {value:.2f}" for name, value in report["ratios"].items()))
    for target, met in report["targets"].items():
        print(f"  {'met   ' if met else 'MISSED'} {target}")


if __name__ == "__main__":
    sys.exit(main())
