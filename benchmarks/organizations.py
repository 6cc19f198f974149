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
import dataclasses
import sys
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from load import REPORT_SCRIPT, LoadResult, run_wrk
from servers import Server
from side_by_side import Run, SideBySide, Table, bearer_token, build_report, main, measure, ratio

TARGETS = {"get": 0.85, "list": 0.85, "create": 0.75}
RATIO = "ratio: service {name} >= {target:.2f} x baseline"
TABLE = Table(
    "route", width=18, rps_decimals=0, cpu_column=True, ratios_label="req/s ratios service/baseline"
)
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


async def _seed(database_url: str) -> tuple[uuid.UUID, uuid.UUID, dict[str, int]]:
    """The caller with ``CALLER_ORGANIZATIONS`` organisations, among other users' organisations."""
    engine = create_async_engine(database_url)
    caller_id = uuid.uuid4()
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO users (id, email, email_canonical, password_hash)"
                    " SELECT CASE WHEN n = 0 THEN CAST(:caller AS uuid) ELSE gen_random_uuid() END,"
                    " 'bench-' || n || '@example.org', 'bench-' || n || '@example.org', '!no-password'"
                    " FROM generate_series(0, :others) AS n"
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
    seeded: tuple[uuid.UUID, uuid.UUID, dict[str, int]],
    scratch: Path,
) -> dict[str, Any]:
    caller_id, organization_id, sizes = seeded
    token = bearer_token(caller_id)
    create_script = scratch / "create.lua"
    create_script.write_text(REPORT_SCRIPT.read_text() + CREATE_SCRIPT)
    routes = [
        Route("get", "GET", f"/api/v1/organizations/{organization_id}"),
        Route("list", "GET", "/api/v1/organizations?limit=50"),
        Route("create", "POST", "/api/v1/organizations"),
    ]

    def load(route: Route, server: str) -> Run:
        posting = route.method == "POST"

        def run(duration_s: float) -> LoadResult:
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

        return run

    runs = {f"{route.name} {server}": load(route, server) for route in routes for server in servers}
    measured = measure(runs, args)
    figures = measured.medians()
    ratios = {
        route.name: ratio(figures, f"{route.name} service", f"{route.name} baseline") for route in routes
    }
    report = build_report(args, figures, ratios, measured.every_run(), TARGETS, RATIO, "bare_organizations")
    return {**report, "seeded": sizes}


def _heading(report: dict[str, Any]) -> str:
    wrk, rounds = report["settings"]["wrk"], report["settings"]["rounds"]
    return f"seeded: {report['seeded']}; wrk {wrk}, medians of {rounds} rounds"


BENCH = SideBySide("organizations", "bare_organizations", _seed, _measure, _heading, TABLE)

if __name__ == "__main__":
    sys.exit(main(BENCH, sys.argv[1:], __doc__))
