"""Over HTTP, side by side: the service's routes against the full-stack FastAPI template's.

The peer a user would pick instead of this project is the official
full-stack FastAPI template: sync SQLModel routes in a thread pool over
psycopg. It is not a dependency of this project, and nothing here builds or
carries its code: start its backend yourself, from its own repository, and
hand its address to the bench::

    nox -s bench -- --peer http://127.0.0.1:8600 --peer-user EMAIL --peer-password PASSWORD \\
        [--peer-pid PID]

Start it the way the template's image runs it (``fastapi run``, that is
uvicorn with its defaults and the access log on), with one worker as the
service has here, pinned to the service's CPU (``taskset -c 0``), on
loopback, with production settings, on a freshly migrated database: its
``item`` table has no index on ``owner_id``, so a table grown by earlier
runs slows its list. ``--peer-user`` is an ordinary (not super) user; the
bench gives them ``LIST_ROWS`` items if they have fewer. ``--peer-pid``
adds the template's CPU time per request to the table.

The service runs as in the other benches (``erp-api serve``, production
settings, JSON access log, CPU 0; wrk on CPU 1), on a throwaway database
with one member of one organisation and its customers. Each route against
the template's equivalent, the same connections, the same bearer-token
sign-in:

- ``get``: a customer by id, against ``GET /api/v1/items/{id}``;
- ``list``: a full page of 50 customers, against ``GET /api/v1/items/?limit=50``;
- ``me``: ``GET /api/v1/users/me`` on both;
- ``create``: ``POST …/customers`` (a name and an email), against
  ``POST /api/v1/items/`` (a title and a description).

Target: each at least 2.0x the template's requests per second, no answer
outside 2xx from either. The reads are measured first (interleaved rounds),
the creates after them, so that the rows the creates add cannot slow the
reads. Without ``--peer`` the bench says there is nothing to compare and
exits 0. Figures go to ``.bench/template-latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import httpx

from erp_db.testing import temporary_database
from instructions import seed_customers
from load import REPORT_SCRIPT, LoadResult, run_wrk
from servers import Server, process_cpu_s
from side_by_side import (
    PRODUCTION_SETTINGS,
    Run,
    Table,
    add_load_options,
    bearer_token,
    build_report,
    finish,
    measure,
    ratio,
    server_env,
    server_urls,
    wrk_missing,
)

TARGETS = {"get": 2.0, "list": 2.0, "me": 2.0, "create": 2.0}
RATIO = "ratio: service {name} >= {target:.2f} x the template"
TABLE = Table(
    "route", width=18, rps_decimals=0, cpu_column=True, ratios_label="req/s ratios service/template"
)
LIST_ROWS = 60  # more than a page of 50, on both sides

CREATE_SCRIPT = """
-- A new row per request: the body template (a script argument) gets a unique suffix.
function init(args)
  non2xx = 0
  body = args[1]
  prefix = args[2]
  counter = 0
end

function request()
  counter = counter + 1
  return wrk.format("POST", nil, nil, string.gsub(body, "#", prefix .. "-" .. counter))
end
"""
SERVICE_BODY = '{"name": "Bench #", "email": "#@example.org"}'
TEMPLATE_BODY = '{"title": "Bench #", "description": "A benchmark item"}'


@dataclasses.dataclass(frozen=True)
class Peer:
    """The template's server, started by whoever runs the bench: its port and, if given, its process."""

    port: int
    pid: int | None

    def cpu_s(self) -> float:
        """User plus system CPU time so far (0 without a process id: the column then reads 0)."""
        return 0.0 if self.pid is None else process_cpu_s(self.pid)


@dataclasses.dataclass(frozen=True)
class Route:
    name: str
    service_path: str
    template_path: str
    posting: bool = False


def parse_options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_load_options(parser, warmup_s=3.0, connections=32)
    parser.add_argument("--peer", help="the template's base URL on loopback, e.g. http://127.0.0.1:8600")
    parser.add_argument("--peer-user", help="an ordinary user of the template (email)")
    parser.add_argument("--peer-password", help="that user's password")
    parser.add_argument("--peer-pid", type=int, help="the template server's process id (for its CPU time)")
    args, _ = parser.parse_known_args(argv)
    return args


def main(argv: list[str]) -> int:
    args = parse_options(argv)
    if not args.peer:
        print("template bench: no --peer given, nothing to compare (see benchmarks/template_peer.py)")
        return 0
    if wrk_missing():
        return 2
    url = urllib.parse.urlsplit(args.peer)
    if url.hostname not in {"127.0.0.1", "localhost"} or url.port is None:
        print(f"--peer must be a loopback address with a port, not {args.peer!r}")
        return 2
    if not (args.peer_user and args.peer_password):
        print("--peer needs --peer-user and --peer-password (an ordinary user of the template)")
        return 2
    peer = Peer(url.port, args.peer_pid)
    template = prepare_template(args.peer, args.peer_user, args.peer_password)
    with tempfile.TemporaryDirectory(prefix="erp-bench-template-") as scratch:
        report = asyncio.run(_serve_and_measure(args, peer, template, Path(scratch)))
    heading = (
        f"the full-stack template at {args.peer} (its access log on); "
        f"wrk {report['settings']['wrk']}, medians of {args.rounds} rounds"
    )
    return finish("template", report, heading, TABLE, strict=args.strict)


@dataclasses.dataclass(frozen=True)
class Template:
    token: str
    item_id: str


def prepare_template(base_url: str, email: str, password: str) -> Template:
    """Sign in to the template and make sure its user has ``LIST_ROWS`` items; a token and one item."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        signed_in = client.post("/api/v1/login/access-token", data={"username": email, "password": password})
        signed_in.raise_for_status()
        token = signed_in.json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        listed = client.get("/api/v1/items/", params={"skip": 0, "limit": 1})
        listed.raise_for_status()
        for number in range(listed.json()["count"], LIST_ROWS):
            client.post("/api/v1/items/", json={"title": f"Seeded {number}"}).raise_for_status()
        first = client.get("/api/v1/items/", params={"skip": 0, "limit": 1}).json()["data"][0]
    return Template(token, first["id"])


async def _serve_and_measure(
    args: argparse.Namespace, peer: Peer, template: Template, scratch: Path
) -> dict[str, Any]:
    admin_url, redis_url = server_urls()
    async with temporary_database(admin_url) as database_url:
        seeded = await seed_customers(database_url, customers=LIST_ROWS)
        env = {**server_env(database_url, redis_url), **PRODUCTION_SETTINGS}
        service = Server("service", env, scratch)
        service.start()
        try:
            service.wait_for("/healthz/ready")
            report = _measure(args, service, peer, template, seeded, scratch)
        finally:
            report_status = service.stop()
    report["exit_statuses"] = {"service": report_status}
    return report


def _measure(
    args: argparse.Namespace,
    service: Server,
    peer: Peer,
    template: Template,
    seeded: dict[str, str],
    scratch: Path,
) -> dict[str, Any]:
    customers = f"/api/v1/organizations/{seeded['organization']}/customers"
    reads = [
        Route("get", f"{customers}/{seeded['customer']}", f"/api/v1/items/{template.item_id}"),
        Route("list", f"{customers}?limit=50", "/api/v1/items/?skip=0&limit=50"),
        Route("me", "/api/v1/users/me", "/api/v1/users/me"),
    ]
    create = Route("create", customers, "/api/v1/items/", posting=True)
    create_script = scratch / "create.lua"
    create_script.write_text(REPORT_SCRIPT.read_text() + CREATE_SCRIPT)
    tokens = {"service": bearer_token(uuid.UUID(seeded["user"])), "template": template.token}

    def load(route: Route, side: str) -> Run:
        server: Any = service if side == "service" else peer
        path = route.service_path if side == "service" else route.template_path
        headers = [f"Authorization: Bearer {tokens[side]}"]
        body = SERVICE_BODY if side == "service" else TEMPLATE_BODY

        def run(duration_s: float) -> LoadResult:
            return run_wrk(
                server,
                path,
                connections=args.connections,
                duration_s=duration_s,
                timeout_s=args.timeout,
                headers=headers + (["Content-Type: application/json"] if route.posting else []),
                script=create_script if route.posting else REPORT_SCRIPT,
                script_args=[body, f"b{uuid.uuid4().hex[:12]}"] if route.posting else (),
            )

        return run

    def runs(routes: list[Route]) -> dict[str, Run]:
        sides = ("service", "template")
        return {f"{route.name} {side}": load(route, side) for route in routes for side in sides}

    first, then = measure(runs(reads), args), measure(runs([create]), args)
    figures = {**first.medians(), **then.medians()}
    ratios = {
        route.name: ratio(figures, f"{route.name} service", f"{route.name} template")
        for route in [*reads, create]
    }
    every_run = first.every_run() + then.every_run()
    settings = {"baseline": f"the full-stack template at {args.peer}, its own uvicorn settings"}
    return build_report(args, figures, ratios, every_run, TARGETS, RATIO, "template", settings)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
