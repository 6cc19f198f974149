"""Baseline for ``GET /users/me``: the same JWT check and primary-key read in a bare FastAPI app.

What a straightforward implementation would write: PyJWT's HS256 check of
the bearer token (signature, ``exp``, ``iss``), the user read by primary key
through an SQLAlchemy async session with the service's pool settings, the
profile as JSON. No middleware, no access log, no problem answers. Reads
``DATABASE_URL``, ``JWT_SECRET_KEY`` and ``APP_NAME`` (the issuer).
"""

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

import jwt
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from erp_db import User

# The service's engine: erp_db.create_engine's defaults (pool 5 + overflow 5, pre-ping on).
POOL_SIZE, MAX_OVERFLOW, POOL_PRE_PING = 5, 5, True


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    engine = create_async_engine(
        os.environ["DATABASE_URL"],
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        pool_pre_ping=POOL_PRE_PING,
    )
    app.state.sessions = async_sessionmaker(engine, expire_on_commit=False)
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)
KEY, ISSUER = os.environ["JWT_SECRET_KEY"], os.environ["APP_NAME"]


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str
    is_superuser: bool
    created_at: datetime


@app.get("/users/me")
async def read_me(authorization: Annotated[str, Header()]) -> UserOut:
    try:
        claims = jwt.decode(
            authorization.removeprefix("Bearer "),
            KEY,
            algorithms=["HS256"],
            issuer=ISSUER,
        )
        user_id = uuid.UUID(claims["sub"])
    except (jwt.PyJWTError, ValueError):
        raise HTTPException(401) from None
    async with app.state.sessions() as session:
        user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise HTTPException(401)
    return UserOut(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        is_superuser=user.is_superuser,
        created_at=user.created_at,
    )
