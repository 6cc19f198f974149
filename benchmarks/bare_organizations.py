"""Baseline for the organisation routes: the same SQL and the same JWT check in a bare FastAPI app.

What a straightforward implementation would write: an SQLAlchemy async engine
with the service's pool settings, PyJWT's HS256 check of the bearer token
(signature, ``exp``, ``iss``), the user read by primary key, then the
feature's own statements, each request in one transaction. No middleware,
no audit event, no paging cursor signature, no ETag handling beyond the
header. Reads ``DATABASE_URL``, ``JWT_SECRET_KEY`` and ``APP_NAME`` (the
issuer) from the environment.
"""

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import jwt
from fastapi import FastAPI, Header, HTTPException, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from erp_db import Membership, Organization, User

# The service's engine: erp_db.create_engine's defaults (pool 5 + overflow 5, pre-ping on).
POOL_SIZE, MAX_OVERFLOW, POOL_PRE_PING = 5, 5, True
organizations, memberships, users = Organization.__table__, Membership.__table__, User.__table__
COLUMNS = (*organizations.c, memberships.c.role)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.engine = create_async_engine(
        os.environ["DATABASE_URL"],
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        pool_pre_ping=POOL_PRE_PING,
    )
    yield
    await app.state.engine.dispose()


app = FastAPI(lifespan=lifespan)
KEY, ISSUER = os.environ["JWT_SECRET_KEY"], os.environ["APP_NAME"]


class OrganizationIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class OrganizationOut(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None
    version: int
    role: str


class OrganizationPage(BaseModel):
    items: list[OrganizationOut]
    next_cursor: str | None


async def caller(connection: AsyncConnection, authorization: str | None) -> uuid.UUID:
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(401)
    try:
        claims = jwt.decode(
            authorization[7:],
            KEY,
            algorithms=["HS256"],
            issuer=ISSUER,
        )
    except jwt.InvalidTokenError:
        raise HTTPException(401) from None
    user = (
        await connection.execute(select(users).where(users.c.id == uuid.UUID(claims["sub"])))
    ).one_or_none()
    if user is None or not user.is_active:
        raise HTTPException(401)
    user_id: uuid.UUID = user.id
    return user_id


@app.get("/api/v1/organizations/{organization_id}")
async def read(
    organization_id: uuid.UUID, response: Response, authorization: Annotated[str | None, Header()] = None
) -> OrganizationOut:
    async with app.state.engine.begin() as connection:
        user_id = await caller(connection, authorization)
        row = (
            await connection.execute(
                select(*COLUMNS)
                .join_from(memberships, organizations, memberships.c.organization_id == organizations.c.id)
                .where(memberships.c.organization_id == organization_id, memberships.c.user_id == user_id)
            )
        ).one_or_none()
    if row is None:
        raise HTTPException(404)
    response.headers["ETag"] = f'"{row.version}"'
    return OrganizationOut(**row._mapping)


@app.get("/api/v1/organizations")
async def listing(
    limit: Annotated[int, Query(ge=1, le=100)] = 50, authorization: Annotated[str | None, Header()] = None
) -> OrganizationPage:
    async with app.state.engine.begin() as connection:
        user_id = await caller(connection, authorization)
        rows = (
            await connection.execute(
                select(*COLUMNS)
                .join_from(memberships, organizations, memberships.c.organization_id == organizations.c.id)
                .where(memberships.c.user_id == user_id, organizations.c.archived_at.is_(None))
                .order_by(tuple_(organizations.c.created_at, organizations.c.id))
                .limit(limit + 1)
            )
        ).all()
    items = [OrganizationOut(**row._mapping) for row in rows[:limit]]
    last: Any = rows[limit - 1] if len(rows) > limit else None
    return OrganizationPage(
        items=items, next_cursor=f"{last.created_at.isoformat()},{last.id}" if last else None
    )


@app.post("/api/v1/organizations", status_code=201)
async def create(
    body: OrganizationIn, response: Response, authorization: Annotated[str | None, Header()] = None
) -> OrganizationOut:
    async with app.state.engine.begin() as connection:
        user_id = await caller(connection, authorization)
        row = (
            await connection.execute(
                insert(organizations)
                .values(id=uuid.uuid4(), name=body.name, slug=body.slug)
                .on_conflict_do_nothing(index_elements=[organizations.c.slug])
                .returning(*organizations.c)
            )
        ).one_or_none()
        if row is None:
            raise HTTPException(409)
        await connection.execute(
            insert(memberships).values(organization_id=row.id, user_id=user_id, role="owner")
        )
    response.headers["Location"] = f"/api/v1/organizations/{row.id}"
    response.headers["ETag"] = f'"{row.version}"'
    return OrganizationOut(**row._mapping, role="owner")
