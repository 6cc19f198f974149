"""The floor: the service's SQL through raw asyncpg, behind the service's own middleware.

``floor_app()`` is ``erp_api.create_app()`` (request id, access line,
security headers, CORS, body limit, metrics: everything of
docs/contract.md §6 and §7) with routes under ``/floor`` that do what the
service's routes do with nothing between them and the driver: PyJWT's
check of the bearer token, the same statements through asyncpg, the records
written by orjson (the cheapest JSON writer the service uses). No FastAPI
dependencies, no SQLAlchemy, no pydantic.
``nox -s instructions`` compares the service's routes with these: the gap
is what the kit and the framework cost.

- ``GET /floor/users/me``: the active caller by primary key;
- ``GET /floor/organizations/{id}``: caller, membership and organisation in
  one statement (as :mod:`erp_api.tenancy` reads them);
- ``GET /floor/organizations``: the caller, then a keyset page of 50;
- ``POST /floor/organizations``: the caller, then in one transaction the
  organisation, the owner's membership and the two audit events;
- ``GET /floor/organizations/{id}/customers/{id}`` and ``…/customers``:
  the customer routes; ``POST …/customers``: the claim's check, the
  customer and its audit event in one statement, in a transaction, as the
  service's create.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg
import jwt
import orjson
from fastapi import FastAPI, Request, Response

from erp_api import create_app
from erp_api.features.identity.tokens import ALGORITHM
from erp_core import get_request_id

ACCESS_AND_ROW = """
SELECT c.id, c.organization_id, c.name, c.email, c.vat_number, c.created_at, c.updated_at, c.archived_at,
       c.version
  FROM memberships m
  JOIN users u ON u.id = m.user_id AND u.is_active
  JOIN organizations o ON o.id = m.organization_id
  LEFT JOIN customers c ON c.id = $3 AND c.organization_id = m.organization_id
 WHERE m.organization_id = $1 AND m.user_id = $2
"""
MEMBER = """
SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id AND u.is_active
 WHERE m.organization_id = $1 AND m.user_id = $2
"""
ME = """
SELECT id, email, full_name, is_superuser, created_at FROM users WHERE id = $1 AND is_active
"""
ORGANIZATION = """
SELECT o.id, o.name, o.slug, o.created_at, o.updated_at, o.archived_at, o.version, m.role
  FROM memberships m
  JOIN users u ON u.id = m.user_id AND u.is_active
  JOIN organizations o ON o.id = m.organization_id
 WHERE m.organization_id = $1 AND m.user_id = $2
"""
ORGANIZATIONS = """
SELECT o.id, o.name, o.slug, o.created_at, o.updated_at, o.archived_at, o.version, m.role
  FROM memberships m JOIN organizations o ON o.id = m.organization_id
 WHERE m.user_id = $1 AND o.archived_at IS NULL
 ORDER BY o.created_at, o.id LIMIT 51
"""
CREATE_ORGANIZATION = """
INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3) ON CONFLICT (slug) DO NOTHING
RETURNING id, name, slug, created_at, updated_at, archived_at, version
"""
ADD_OWNER = """
INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'owner')
ON CONFLICT (organization_id, user_id) DO NOTHING RETURNING user_id
"""
AUDIT = """
INSERT INTO audit_events
       (id, actor_user_id, organization_id, action, target_type, target_id, changes, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""
# The customer create of erp_api.versioned.insert_row(claim=..., event=...): the claim's check,
# the row and its audit event in one statement, in the request's transaction.
CREATE_CUSTOMER = """
WITH created AS (
  INSERT INTO customers (id, organization_id, name, email, vat_number, version)
  SELECT $1::uuid, $2::uuid, $3::varchar, $4::varchar, $5::varchar, 1
   WHERE EXISTS (SELECT 1 FROM memberships m
                   JOIN users u ON u.id = m.user_id AND u.is_active
                   JOIN organizations o ON o.id = m.organization_id AND o.archived_at IS NULL
                  WHERE m.organization_id = $2 AND m.user_id = $6)
  RETURNING id, organization_id, name, email, vat_number, created_at, updated_at, archived_at, version
), audit_event AS (
  INSERT INTO audit_events
         (id, actor_user_id, organization_id, action, target_type, target_id, changes, request_id)
  SELECT $7::uuid, $6::uuid, $2, 'customer.created', 'customer', $1, $8::jsonb, $9::varchar FROM created
)
SELECT * FROM created
"""
CUSTOMER_FIELDS = ("name", "email", "vat_number")
PAGE = """
SELECT id, organization_id, name, email, vat_number, created_at, updated_at, archived_at, version
  FROM customers WHERE organization_id = $1 AND archived_at IS NULL
 ORDER BY created_at, id LIMIT 51
"""


def _json(row: asyncpg.Record | Mapping[str, Any]) -> dict[str, Any]:
    """The record's columns, as they came: orjson writes them (:func:`_dumps`)."""
    return dict(row)


def _dumps(body: Any) -> bytes:
    """``body`` as JSON, UTC times with ``Z`` and asyncpg's UUIDs as strings, as the service writes them."""
    return orjson.dumps(body, default=str, option=orjson.OPT_UTC_Z)


def floor_app() -> FastAPI:
    app = create_app()
    key, issuer = os.environ["JWT_SECRET_KEY"], os.environ["APP_NAME"]
    dsn = os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)
    pools: list[asyncpg.Pool] = []

    async def pool() -> asyncpg.Pool:
        if not pools:
            pools.append(await asyncpg.create_pool(dsn, min_size=1, max_size=5))
        return pools[0]

    def caller(request: Request) -> uuid.UUID:
        token = request.headers["authorization"].removeprefix("Bearer ")
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], issuer=issuer)  # HS256 only, as the service
        return uuid.UUID(claims["sub"])

    def answer(body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return Response(_dumps(body), status_code, headers, media_type="application/json")

    async def active_caller(connection: asyncpg.Connection, request: Request) -> asyncpg.Record | None:
        return await connection.fetchrow(ME, caller(request))

    @app.get("/floor/users/me")
    async def me(request: Request) -> Response:
        async with (await pool()).acquire() as connection:
            row = await active_caller(connection, request)
        return Response(status_code=401) if row is None else answer(_json(row))

    @app.get("/floor/organizations/{organization_id}")
    async def organization(request: Request, organization_id: str) -> Response:
        async with (await pool()).acquire() as connection:
            row = await connection.fetchrow(ORGANIZATION, uuid.UUID(organization_id), caller(request))
        if row is None:
            return Response(status_code=404)
        return answer(_json(row), headers={"ETag": f'"{row["version"]}"'})

    @app.get("/floor/organizations")
    async def organization_page(request: Request) -> Response:
        async with (await pool()).acquire() as connection:
            user = await active_caller(connection, request)
            if user is None:
                return Response(status_code=401)
            rows = await connection.fetch(ORGANIZATIONS, user["id"])
        return answer({"items": [_json(row) for row in rows[:50]], "next_cursor": None})

    @app.post("/floor/organizations")
    async def create_organization(request: Request) -> Response:
        body = orjson.loads(await request.body())
        name, slug = body["name"], body["slug"]
        request_id = get_request_id()
        async with (await pool()).acquire() as connection:
            user = await active_caller(connection, request)
            if user is None:
                return Response(status_code=401)
            async with connection.transaction():
                row = await connection.fetchrow(CREATE_ORGANIZATION, uuid.uuid4(), name, slug)
                if row is None:
                    return Response(status_code=409)
                await connection.fetchval(ADD_OWNER, row["id"], user["id"])
                created = orjson.dumps({"name": [None, name], "slug": [None, slug]}).decode()
                await connection.executemany(
                    AUDIT,
                    [
                        (uuid.uuid4(), user["id"], row["id"], "organization.created", "organization",
                         row["id"], created, request_id),
                        (uuid.uuid4(), user["id"], row["id"], "membership.created", "membership",
                         user["id"], orjson.dumps({"role": [None, "owner"]}).decode(), request_id),
                    ],
                )  # fmt: skip
        location = f"/api/v1/organizations/{row['id']}"
        return answer(
            {**_json(row), "role": "owner"}, 201, {"Location": location, "ETag": f'"{row["version"]}"'}
        )

    @app.get("/floor/organizations/{organization_id}/customers/{customer_id}")
    async def read(request: Request, organization_id: str, customer_id: str) -> Response:
        async with (await pool()).acquire() as connection:
            row = await connection.fetchrow(
                ACCESS_AND_ROW, uuid.UUID(organization_id), caller(request), uuid.UUID(customer_id)
            )
        if row is None or row["id"] is None:
            return Response(status_code=404)
        return Response(
            _dumps(_json(row)), media_type="application/json", headers={"ETag": f'"{row["version"]}"'}
        )

    @app.get("/floor/organizations/{organization_id}/customers")
    async def page(request: Request, organization_id: str) -> Response:
        organization = uuid.UUID(organization_id)
        async with (await pool()).acquire() as connection:
            if await connection.fetchval(MEMBER, organization, caller(request)) is None:
                return Response(status_code=404)
            rows = await connection.fetch(PAGE, organization)
        items = [_json(row) for row in rows[:50]]
        return Response(_dumps({"items": items, "next_cursor": None}), media_type="application/json")

    @app.post("/floor/organizations/{organization_id}/customers")
    async def create_customer(request: Request, organization_id: str) -> Response:
        body = orjson.loads(await request.body())
        values = (body["name"], body.get("email"), body.get("vat_number"))
        created = orjson.dumps(
            {name: [None, value] for name, value in zip(CUSTOMER_FIELDS, values, strict=True)}
        )
        organization, row_id = uuid.UUID(organization_id), uuid.uuid4()
        async with (await pool()).acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                CREATE_CUSTOMER, row_id, organization, *values, caller(request), uuid.uuid4(),
                created.decode(), get_request_id(),
            )  # fmt: skip
        if row is None:
            return Response(status_code=404)
        location = f"/api/v1/organizations/{organization_id}/customers/{row_id}"
        return answer(_json(row), 201, {"Location": location, "ETag": f'"{row["version"]}"'})

    return app
