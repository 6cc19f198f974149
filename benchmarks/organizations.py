"""The organisation routes under load, side by side with a straightforward baseline.

``python benchmarks/organizations.py`` from the bench's environment (the
one ``nox -s bench`` builds: erp-api installed, ``wrk`` on the path). Two
servers under the same uvicorn settings, one worker each, pinned to CPU 0,
on one throwaway database seeded first: ``erp-api serve`` in production
settings (every middleware, JSON access log, audit events) and
:mod:`bare_organizations` (the same SQL and JWT check, nothing else).
Three routes, each signed in with the same access token:

- ``get``: ``GET /api/v1/organizations/{id}`` (target >= 0.85x the baseline);
- ``list``: ``GET /api/v1/organizations?limit=50``, a full page (>= 0.85x);
- ``create``: ``POST /api/v1/organizations`` with a new slug per request
  (>= 0.75x: the service writes an audit event too).

wrk (CPU 1) warms each route up, then runs interleaved rounds, the order
rotated each round; the table shows medians. Exit status 1 on any non-2xx
answer or socket error; a missed ratio is printed as MISSED and fails the
run only with ``--strict`` (on a shared machine ratios move with the
neighbours). Figures go to ``.bench/organizations-latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
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

TARGETS = {"get": 0.85, "list": 0.85, "create": 0.75}
# Seeded before the run: the caller's organisations (more than one page of 50) among other tenants'.
CALLER_ORGANIZATIONS = 60
OTHER_USERS = 1000
OTHER_ORGANIZATIONS = 2000

CREATE_SCRIPT = """
-- POST /api/v1/organizations with a new slug each time; the prefix (a script
-- argument) keeps slugs unique across runs and servers.
function init(args)
  non2xx = 0
  prefix = args[1]
  counter = 0
end

function request()
  counter = counter + 1
  return wrk.format("POST", nil, nil, '{"name": "Bench", "slug": "' .. prefix .. '-' .. counter .. '"}')
end
"""


@dataclasses.dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (default: %(default)s)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per route")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=2.0, help="wrk's per-request timeout, seconds")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a throughput ratio is missed too")
    # `nox -s bench -- …` hands every bench the same arguments (run.py's --breakdown too).
    args, _ = parser.parse_known_args(argv)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: `apt-get install wrk` (Debian, Ubuntu) or `brew install wrk`")
        return 2
    admin_url = os.environ.get("TEST_DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("TEST_REDIS_URL") or DEFAULT_REDIS_URL
    with tempfile.TemporaryDirectory(prefix="erp-bench-organizations-") as scratch:
        report = asyncio.run(_serve_and_measure(args, Path(scratch), admin_url, redis_url))
    OUTPUT_DIR.mkdir(exist_ok=True)
    (OUTPUT_DIR / "organizations-latest.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    _print(report)
    faults = [name for name, met in report["targets"].items() if not met and not name.startswith("ratio")]
    missed = [name for name, met in report["targets"].items() if not met]
    return 1 if faults or (args.strict and missed) else 0


async def _serve_and_measure(
    args: argparse.Namespace, scratch: Path, admin_url: str, redis_url: str
) -> dict[str, Any]:
    async with temporary_database(admin_url) as database_url:
        caller_id, organization_id, sizes = await _seed(database_url)
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
        }
        baseline_argv = [
            sys.executable, "-m", "uvicorn", "bare_organizations:app", "--app-dir", str(BENCH_DIR),
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
            token = issue_access_token(caller_id, key=JWT_SECRET_KEY.encode(), issuer=APP_NAME, ttl_s=3600)
            report = _measure(args, servers, token, organization_id, scratch)
        finally:
            report_exit = {name: server.stop() for name, server in servers.items()}
    report["seeded"] = sizes
    report["exit_statuses"] = report_exit
    return report


async def _seed(database_url: str) -> tuple[uuid.UUID, uuid.UUID, dict[str, int]]:
    """The caller with ``CALLER_ORGANIZATIONS`` organisations, among other users' organisations."""
    engine = create_async_engine(database_url)
    caller_id = uuid.uuid4()
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO users (id, email, password_hash)"
                    " SELECT CASE WHEN n = 0 THEN CAST(:caller AS uuid) ELSE gen_random_uuid() END,"
                    " 'bench-' || n || '@example.org', '!no-password' FROM generate_series(0, :others) AS n"
                ),
                {"caller": str(caller_id), "others": OTHER_USERS},
            )
            await connection.execute(
                text(
                    "INSERT INTO organizations (id, name, slug, created_at, updated_at)"
                    " SELECT gen_random_uuid(), 'Seeded ' || n, 'seeded-' || n,"
                    " now() - make_interval(secs => :total - n), now() FROM generate_series(1, :total) AS n"
                ),
                {"total": CALLER_ORGANIZATIONS + OTHER_ORGANIZATIONS},
            )
            # The caller owns the first organisations; each other one has an owner among the other users.
            await connection.execute(
                text(
                    "INSERT INTO memberships (organization_id, user_id, role)"
                    " SELECT o.id, CASE WHEN o.n <= :mine THEN CAST(:caller AS uuid) ELSE u.id END, 'owner'"
                    " FROM (SELECT id, row_number() OVER (ORDER BY created_at) AS n FROM organizations) AS o"
                    " JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM users"
                    "       WHERE id <> CAST(:caller AS uuid)) AS u ON u.n = o.n % :others"
                ),
                {"caller": str(caller_id), "mine": CALLER_ORGANIZATIONS, "others": OTHER_USERS},
            )
            organization_id = (
                await connection.execute(
                    text("SELECT organization_id FROM memberships WHERE user_id = :caller LIMIT 1"),
                    {"caller": str(caller_id)},
                )
            ).scalar_one()
            await connection.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    sizes = {
        "users": OTHER_USERS + 1,
        "organizations": CALLER_ORGANIZATIONS + OTHER_ORGANIZATIONS,
        "caller_organizations": CALLER_ORGANIZATIONS,
    }
    return caller_id, organization_id, sizes


def _measure(
    args: argparse.Namespace,
    servers: dict[str, Server],
    token: str,
    organization_id: uuid.UUID,
    scratch: Path,
) -> dict[str, Any]:
    create_script = scratch / "create.lua"
    create_script.write_text(REPORT_SCRIPT.read_text() + CREATE_SCRIPT)
    routes = [
        Route("get", "GET", f"/api/v1/organizations/{organization_id}"),
        Route("list", "GET", "/api/v1/organizations?limit=50"),
        Route("create", "POST", "/api/v1/organizations"),
    ]
    runs = [(route, server) for route in routes for server in servers]

    def load(route: Route, server: str, duration_s: float) -> LoadResult:
        posting = route.method == "POST"
        return run_wrk(
            servers[server],
            route.path,
            connections=args.connections,
            duration_s=duration_s,
            timeout_s=args.timeout,
            headers=[f"Authorization: Bearer {token}"]
            + (["Content-Type: application/json"] if posting else []),
            script=create_script if posting else REPORT_SCRIPT,
            script_args=[f"b{uuid.uuid4().hex[:12]}"] if posting else (),
        )

    warmup = {f"{route.name} {server}": load(route, server, args.warmup) for route, server in runs}
    rounds: dict[str, list[LoadResult]] = {f"{route.name} {server}": [] for route, server in runs}
    for number in range(args.rounds):
        shift = number % len(runs)
        for route, server in runs[shift:] + runs[:shift]:
            rounds[f"{route.name} {server}"].append(load(route, server, args.duration))
        print(
            f"round {number + 1}/{args.rounds}: "
            + ", ".join(f"{name} {results[-1].requests_per_s:,.0f}/s" for name, results in rounds.items()),
            flush=True,
        )
    medians = {name: _medians(results) for name, results in rounds.items()}
    ratios = {
        route.name: medians[f"{route.name} service"]["requests_per_s"]
        / medians[f"{route.name} baseline"]["requests_per_s"]
        for route in routes
    }
    every_run = [result for results in rounds.values() for result in results] + list(warmup.values())
    targets = {
        **{
            f"ratio: service {name} >= {target:.2f} x baseline": ratios[name] >= target
            for name, target in TARGETS.items()
        },
        "zero non-2xx": all(result.non_2xx == 0 for result in every_run),
        "zero socket errors": all(result.socket_errors == 0 for result in every_run),
    }
    return {
        "medians": medians,
        "ratios": ratios,
        "targets": targets,
        "settings": {
            "wrk": f"-t1 -c{args.connections} -d{args.duration:g}s --timeout {args.timeout:g}s",
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "service": "ENVIRONMENT=production LOG_LEVEL=INFO LOG_FORMAT=json, metrics off",
            "baseline": "bare_organizations, uvicorn --no-access-log",
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
    print(f"\nseeded: {report['seeded']}; wrk {settings['wrk']}, medians of {settings['rounds']} rounds")
    print(
        f"{'route':<18}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'sock err':>9}{'CPU µs/req':>12}"
    )
    for name, m in report["medians"].items():
        print(
            f"{name:<18}{m['requests_per_s']:>9,.0f}{m['p50_ms']:>9.2f}{m['p99_ms']:>9.2f}"
            f"{m['non_2xx']:>9.0f}{m['socket_errors']:>9.0f}{m['cpu_us_per_request']:>12.0f}"
        )
    print("req/s ratios service/baseline: " + ", ".join(f"{k} {v:.2f}" for k, v in report["ratios"].items()))
    for target, met in report["targets"].items():
        print(f"  {'met   ' if met else 'MISSED'} {target}")


if __name__ == "__main__":
    sys.exit(main())
