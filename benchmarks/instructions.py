"""Instructions per request under callgrind: the service's routes against their baselines and floors.

``python benchmarks/instructions.py [--requests N]`` from the bench's
environment (``nox -s instructions`` runs it; needs ``valgrind``). Throughput
on a shared machine moves by a third from one run to the next; the number of
instructions a request executes does not. Each app is driven in-process,
without HTTP, by a child process under ``valgrind --tool=callgrind``: once
with N requests after a warm-up, once with none. The difference over N is
the app's cost per request, start-up excluded; the database's own work runs
in PostgreSQL and is not counted.

Each route of the service against :mod:`floor`, the same SQL through raw
asyncpg **behind the service's own middleware**, printed as service/floor
(1.00 = the service costs what the floor costs; target at most 1.80):
``GET /users/me``, an organisation by id, a page of 50 organisations,
``POST /organizations`` (a new slug each time), a customer by id, a page
of 50 customers and ``POST …/customers`` (a name and an email).

``--only me,create`` measures a subset. Figures go to
``.bench/instructions-latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import datetime
import itertools
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

from erp_db.testing import temporary_database
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

# target -> (app, method, path template, query): the pairs compared, service first.
TARGETS = {
    "me-service": ("service", "GET", "/api/v1/users/me", ""),
    "me-floor": ("floor", "GET", "/floor/users/me", ""),
    "organization-service": ("service", "GET", "/api/v1/organizations/{organization}", ""),
    "organization-floor": ("floor", "GET", "/floor/organizations/{organization}", ""),
    "organizations-service": ("service", "GET", "/api/v1/organizations", "limit=50"),
    "organizations-floor": ("floor", "GET", "/floor/organizations", ""),
    "create-service": ("service", "POST", "/api/v1/organizations", ""),
    "create-floor": ("floor", "POST", "/floor/organizations", ""),
    "customer-service": ("service", "GET", "/api/v1/organizations/{organization}/customers/{customer}", ""),
    "customer-floor": ("floor", "GET", "/floor/organizations/{organization}/customers/{customer}", ""),
    "customers-service": ("service", "GET", "/api/v1/organizations/{organization}/customers", "limit=50"),
    "customers-floor": ("floor", "GET", "/floor/organizations/{organization}/customers", ""),
    "customer-create-service": ("service", "POST", "/api/v1/organizations/{organization}/customers", ""),
    "customer-create-floor": ("floor", "POST", "/floor/organizations/{organization}/customers", ""),
}
PAIRS = tuple((name, name.replace("-service", "-floor")) for name in TARGETS if name.endswith("-service"))
TARGET_RATIO = 1.8
CUSTOMERS = 50
OWNED = 59  # with the customers' organisation, more than a page of 50 organisations
WARM_UP = 20
_COLLECTED = re.compile(r"Collected : (\d+)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--requests", type=int, default=100, help="requests counted per target (default: 100)"
    )
    parser.add_argument(
        "--only", help="a comma-separated subset of the routes (me, organization, organizations, create, …)"
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
    by_route = {service.removesuffix("-service"): (service, floor) for service, floor in PAIRS}
    routes = args.only.split(",") if args.only else list(by_route)
    unknown = set(routes) - set(by_route)
    if unknown:
        parser.error(f"--only: no route {', '.join(sorted(unknown))}")
    pairs = tuple(pair for route, pair in by_route.items() if route in routes)
    return asyncio.run(_measure(args.requests, pairs))


async def seed_customers(database_url: str, *, customers: int = CUSTOMERS) -> dict[str, str]:
    """The caller of /users/me, an organisation they are a member of and its ``customers``.

    The caller owns ``OWNED`` more organisations, so a page of theirs is full.
    """
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
            customers,
        )
        owned = await connection.fetch(
            "INSERT INTO organizations (id, name, slug, created_at)"
            " SELECT gen_random_uuid(), 'Owned ' || n, 'owned-' || n, now() - make_interval(secs => n)"
            " FROM generate_series(1, $1) AS n RETURNING id",
            OWNED,
        )
        await connection.executemany(
            "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'owner')",
            [(row["id"], user_id) for row in owned],
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return {"user": str(user_id), "organization": str(organization), "customer": str(customer)}


async def _measure(requests: int, pairs: tuple[tuple[str, str], ...]) -> int:
    admin_url, _ = server_urls()
    async with temporary_database(admin_url) as database_url:
        seed = json.dumps(await seed_customers(database_url))
        targets = [target for pair in pairs for target in pair]
        for target in targets:  # once without valgrind: every module's bytecode written before counting
            _run_child([sys.executable], target, 0, database_url, seed)
        runs = [(target, count) for target in targets for count in (requests, 0)]
        # One child per core: instruction counts do not depend on what else runs.
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            counted = dict(
                zip(runs, pool.map(lambda run: _instructions(*run, database_url, seed), runs), strict=True)
            )
    per_request = {target: (counted[target, requests] - counted[target, 0]) / requests for target in targets}
    ratios = {f"{service}/{floor}": per_request[service] / per_request[floor] for service, floor in pairs}
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "requests": requests,
        "instructions_per_request": per_request,
        "ratios": ratios,
        "target": f"service/floor <= {TARGET_RATIO}",
    }
    OUTPUT_DIR.mkdir(exist_ok=True)
    (OUTPUT_DIR / "instructions-latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"In process, instructions per request (callgrind, {requests} requests minus 0):")
    for service, floor in pairs:
        mine, theirs = per_request[service] / 1e6, per_request[floor] / 1e6
        met = "met   " if mine / theirs <= TARGET_RATIO else "MISSED"
        print(
            f"  {service:<24} {mine:6.2f} M   {floor:<22} {theirs:6.2f} M"
            f"   service/floor {mine / theirs:.2f}  {met} <= {TARGET_RATIO}"
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
    app_name, method, template, query = TARGETS[target]
    path = template.format(**seed)
    sys.path.insert(0, str(BENCH_DIR))
    if app_name == "service":
        from erp_api import create_app

        app: Any = create_app()
    else:
        from floor import floor_app

        app = floor_app()
    user_id = uuid.UUID(seed["user"])
    headers = [
        (b"host", b"bench"),
        (b"authorization", f"Bearer {bearer_token(user_id)}".encode()),
    ]
    if method == "POST":
        headers.append((b"content-type", b"application/json"))
    statuses: list[int] = []
    # A new slug per request, and per child: the children share the database.
    bodies = (
        json.dumps(
            {"name": f"Customer {number}", "email": f"c{os.getpid()}-{number}@example.org"}
            if target.startswith("customer-create")
            else {"name": "Bench", "slug": f"p{os.getpid()}-{number}"}
        ).encode()
        for number in itertools.count()
    )

    async def receive() -> dict[str, Any]:
        body = next(bodies) if method == "POST" else b""
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async with app.router.lifespan_context(app) as state:
        for _ in range(WARM_UP + requests):
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
                "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
                "server": ("127.0.0.1", 80), "state": dict(state or {}),
            }  # fmt: skip
            await app(scope, receive, send)
    expected = 201 if method == "POST" else 200
    if set(statuses) != {expected}:
        raise RuntimeError(f"{target}: answers {sorted(set(statuses))}, expected only {expected}")


if __name__ == "__main__":
    sys.exit(main())
