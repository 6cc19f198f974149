"""Baseline for ``/healthz/ready``: the straightforward readiness probe, in a bare FastAPI app.

``SELECT 1`` through an SQLAlchemy async engine, with the service's pool size,
overflow and ``pool_pre_ping`` choice (erp-db's defaults), and a Redis
``PING``, gathered concurrently on every request. Two checks, where the
service answers three (database, migrations, Redis). Reads ``DATABASE_URL``
(``postgresql+asyncpg://``) and ``APP_CACHE_REDIS_URL`` from the environment.
"""

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

# The service's engine: erp_db.create_engine's defaults (pool 5 + overflow 5, pre-ping on).
POOL_SIZE, MAX_OVERFLOW, POOL_PRE_PING = 5, 5, True


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.engine = create_async_engine(
        os.environ["DATABASE_URL"],
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        pool_pre_ping=POOL_PRE_PING,
    )
    app.state.redis = Redis.from_url(os.environ["APP_CACHE_REDIS_URL"])
    yield
    await app.state.redis.aclose()
    await app.state.engine.dispose()


app = FastAPI(lifespan=lifespan)


async def select_one() -> None:
    async with app.state.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


@app.get("/healthz/ready")
async def ready() -> JSONResponse:
    database: object
    redis: object
    database, redis = await asyncio.gather(select_one(), app.state.redis.ping(), return_exceptions=True)
    checks = {
        "database": "fail" if isinstance(database, BaseException) else "ok",
        "redis": "fail" if isinstance(redis, BaseException) else "ok",
    }
    healthy = all(status == "ok" for status in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, 200 if healthy else 503
    )
