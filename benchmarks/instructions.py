"""Instructions per request under callgrind: the service's routes against their baselines and floors.

``python benchmarks/instructions.py [--requests N]`` from the bench's
environment (``nox -s instructions`` runs it; needs ``valgrind``). Throughput
on a shared machine moves by a third from one run to the next; the number of
instructions a request executes does not. Each app is driven in-process,
without HTTP, by a child process under ``valgrind --tool=callgrind``: once
with N requests after a warm-up, once with none. The difference over N is
the app's cost per request, start-up excluded; the database's own work runs
in PostgreSQL and is not counted.

Three comparisons, each printed as floor/service (1.00 = the service costs
what the floor costs):

- ``GET /users/me`` against :mod:`bare_identity` (a bare FastAPI route, no
  middleware, the same primary-key read through SQLAlchemy);
- a customer by id, and a page of 50 customers, against
  :mod:`floor_customers`: the same SQL through raw asyncpg behind the
  service's own middleware, so the gap is what the feature kit costs.

Figures go to ``.bench/instructions-latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from erp_testing.database import temporary_database
from identity import seed_users
from side_by_side import (
    APP_NAME,
    BENCH_DIR,
    JWT_SECRET_KEY,
    OUTPUT_DIR,
    PRODUCTION_SETTINGS,
    bearer_token,
    server_urls,
)

# target -> (app, path template): the pairs compared, service first.
TARGETS = {
    "me-service": ("service", "/api/v1/users/me"),
    "me-baseline": ("baseline", "/users/me"),
    "customer-service": ("service", "/api/v1/organizations/{organization}/customers/{customer}"),
    "customer-floor": ("floor", "/floor/organizations/{organization}/customers/{customer}"),
    "list-service": ("service", "/api/v1/organizations/{organization}/customers"),
    "list-floor": ("floor", "/floor/organizations/{organization}/customers"),
}
PAIRS = (
    ("me-service", "me-baseline"),
    ("customer-service", "customer-floor"),
    ("list-service", "list-floor"),
)
CUSTOMERS = 50
WARM_UP = 20
_COLLECTED = re.compile(r"Collected : (\d+)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--requests", type=int, default=100, help="requests counted per target (default: 100)"
    )
    child = ("TARGET", "N", "DATABASE_URL", "SEED")
    parser.add_argument("--child", nargs=4, metavar=child, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.child:
        target, count, database_url, seed = args.child
        # The access lines are written (their cost counts), not shown.
        with Path(os.devnull).open("w") as sink, contextlib.redirect_stdout(sink):
            asyncio.run(_drive(target, int(count), database_url, json.loads(seed)))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: `apt-get install valgrind` (Debian, Ubuntu)")
        return 2
    return asyncio.run(_measure(args.requests))


async def _seed(database_url: str) -> dict[str, str]:
    """The caller of /users/me, an organisation they belong to, and its customers."""
    user_id, _ = await seed_users(database_url)
    organization, customer = uuid.uuid4(), uuid.uuid4()
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await connection.execute(
            "INSERT INTO organizations (id, name, slug) VALUES ($1, 'Bench', 'bench')", organization
        )
        await connection.execute(
            "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'member')",
            organization,
            user_id,
        )
        await connection.execute(
            "INSERT INTO customers (id, organization_id, name, email, vat_number, created_at)"
            " SELECT CASE WHEN n = 1 THEN $2 ELSE gen_random_uuid() END, $1, 'Customer ' || n,"
            " 'c' || n || '@example.org', 'DE' || (100000000 + n), now() - make_interval(secs => $3 - n)"
            " FROM generate_series(1, $3) AS n",
            organization,
            customer,
            CUSTOMERS,
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return {"user": str(user_id), "organization": str(organization), "customer": str(customer)}


async def _measure(requests: int) -> int:
    admin_url, _ = server_urls()
    async with temporary_database(admin_url) as database_url:
        seed = json.dumps(await _seed(database_url))
        for target in TARGETS:  # once without valgrind: every module's bytecode written before counting
            _run_child([sys.executable], target, 0, database_url, seed)
        runs = [(target, count) for target in TARGETS for count in (requests, 0)]
        # One child per core: instruction counts do not depend on what else runs.
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            counted = dict(
                zip(runs, pool.map(lambda run: _instructions(*run, database_url, seed), runs), strict=True)
            )
    per_request = {target: (counted[target, requests] - counted[target, 0]) / requests for target in TARGETS}
    ratios = {f"{other}/{service}": per_request[other] / per_request[service] for service, other in PAIRS}
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "requests": requests,
        "instructions_per_request": per_request,
        "ratios": ratios,
    }
    OUTPUT_DIR.mkdir(exist_ok=True)
    (OUTPUT_DIR / "instructions-latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"In process, instructions per request (callgrind, {requests} requests minus 0):")
    for service, other in PAIRS:
        mine, theirs = per_request[service] / 1e6, per_request[other] / 1e6
        print(
            f"  {service:<17} {mine:6.2f} M   {other:<17} {theirs:6.2f} M"
            f"   {other.split('-')[1]}/service: {theirs / mine:.2f}"
        )
    return 0


def _instructions(target: str, requests: int, database_url: str, seed: str) -> int:
    """Instructions of one child run, start-up included: what callgrind reports as collected."""
    valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    found = _COLLECTED.search(_run_child(valgrind, target, requests, database_url, seed))
    if found is None:
        raise RuntimeError(f"callgrind counted nothing for the {target} child")
    return int(found.group(1))


def _run_child(interpreter: list[str], target: str, requests: int, database_url: str, seed: str) -> str:
    """Run the child under ``interpreter``; its standard error."""
    command = [*interpreter, __file__, "--child", target, str(requests), database_url, seed]
    # A fixed hash seed: the same dictionary layouts, hence the same work, in every run.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {target} child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stderr


async def _drive(target: str, requests: int, database_url: str, seed: dict[str, str]) -> None:
    """The child: ``WARM_UP + requests`` sequential requests through the ASGI app, all 200.

    The ASGI calls are made by hand rather than through an HTTP client
    (httpx's ASGI transport): a client's own work would be counted too, the
    same for every app, and would pull the ratios towards 1.
    """
    os.environ.update(PRODUCTION_SETTINGS)
    os.environ.update({"DATABASE_URL": database_url, "APP_NAME": APP_NAME, "JWT_SECRET_KEY": JWT_SECRET_KEY})
    app_name, template = TARGETS[target]
    path = template.format(**seed)
    sys.path.insert(0, str(BENCH_DIR))
    if app_name == "service":
        from erp_api import create_app

        app: Any = create_app()
    elif app_name == "floor":
        from floor_customers import floor_app

        app = floor_app()
    else:
        from bare_identity import app
    user_id = uuid.UUID(seed["user"])
    headers = [
        (b"host", b"bench"),
        (b"authorization", f"Bearer {bearer_token(user_id)}".encode()),
    ]
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async with app.router.lifespan_context(app) as state:
        for _ in range(WARM_UP + requests):
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
                "server": ("127.0.0.1", 80), "state": dict(state or {}),
            }  # fmt: skip
            await app(scope, receive, send)
    if set(statuses) != {200}:
        raise RuntimeError(f"{target}: answers {sorted(set(statuses))}, expected only 200")


if __name__ == "__main__":
    sys.exit(main())
