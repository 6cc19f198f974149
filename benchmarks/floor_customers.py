"""The floor for the customer routes: the same SQL through raw asyncpg, behind the service's own middleware.

``floor_app()`` is ``erp_api.create_app()`` (request id, access line,
security headers, CORS, body limit, metrics: everything of
docs/contract.md §6 and §7) with two more routes that do what the customer
routes do with nothing between them and the driver: PyJWT's check of the
bearer token, one asyncpg statement that reads the active caller, the
membership and the customer (or the page), and the JSON written by hand.
No FastAPI dependencies, no SQLAlchemy, no pydantic. ``nox -s instructions``
compares the service's routes with these: the gap is what the kit costs.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import asyncpg
import jwt
from fastapi import FastAPI, Request, Response

from erp_api import create_app

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
PAGE = """
SELECT id, organization_id, name, email, vat_number, created_at, updated_at, archived_at, version
  FROM customers WHERE organization_id = $1 AND archived_at IS NULL
 ORDER BY created_at, id LIMIT 51
"""


def _customer(row: asyncpg.Record) -> dict[str, Any]:
    return {
        key: (
            str(value)
            if isinstance(value, uuid.UUID)
            else value.isoformat()
            if hasattr(value, "isoformat")
            else value
        )
        for key, value in row.items()
    }


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
        return uuid.UUID(jwt.decode(token, key, algorithms=["HS256"], issuer=issuer)["sub"])

    @app.get("/floor/organizations/{organization_id}/customers/{customer_id}")
    async def read(request: Request, organization_id: str, customer_id: str) -> Response:
        async with (await pool()).acquire() as connection:
            row = await connection.fetchrow(
                ACCESS_AND_ROW, uuid.UUID(organization_id), caller(request), uuid.UUID(customer_id)
            )
        if row is None or row["id"] is None:
            return Response(status_code=404)
        body = _customer(row)
        return Response(
            json.dumps(body), media_type="application/json", headers={"ETag": f'"{body["version"]}"'}
        )

    @app.get("/floor/organizations/{organization_id}/customers")
    async def page(request: Request, organization_id: str) -> Response:
        organization = uuid.UUID(organization_id)
        async with (await pool()).acquire() as connection:
            if await connection.fetchval(MEMBER, organization, caller(request)) is None:
                return Response(status_code=404)
            rows = await connection.fetch(PAGE, organization)
        items = [_customer(row) for row in rows[:50]]
        return Response(json.dumps({"items": items, "next_cursor": None}), media_type="application/json")

    return app
