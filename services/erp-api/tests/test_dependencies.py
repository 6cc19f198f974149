"""get_db_session commits before the response is sent and rolls back on any error, however declared."""

import asyncio
import inspect
import uuid
from collections.abc import Iterator

import asyncpg
import pytest
from fastapi import APIRouter, Depends, HTTPException
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api import RedisDep, SessionDep, SettingsDep, create_app, get_db_session
from erp_api_testing import ConnectionCounter, MakeSettings, serve_in_process


def _plain_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture
async def table(erp_db_url: str):
    conn = await asyncpg.connect(_plain_dsn(erp_db_url))
    await conn.execute(
        "CREATE TABLE api_dep_probe (name text PRIMARY KEY, "
        "parent text REFERENCES api_dep_probe (name) DEFERRABLE INITIALLY DEFERRED)"
    )
    yield conn
    await conn.execute("DROP TABLE api_dep_probe")
    await conn.close()


ORPHAN = text("INSERT INTO api_dep_probe (name, parent) VALUES (:n, 'no-such-parent')")


def _routes() -> APIRouter:
    router = APIRouter()

    @router.post("/rows/{name}")
    async def insert(name: str, session: SessionDep) -> dict[str, str]:
        await session.execute(text("INSERT INTO api_dep_probe (name) VALUES (:n)"), {"n": name})
        return {"name": name}

    @router.post("/rows/{name}/refused")
    async def insert_then_refuse(name: str, session: SessionDep) -> None:
        await session.execute(text("INSERT INTO api_dep_probe (name) VALUES (:n)"), {"n": name})
        raise HTTPException(409, "refused after writing")

    @router.post("/rows/{name}/answered-409")
    async def insert_then_answer_409(name: str, session: SessionDep) -> JSONResponse:
        await session.execute(text("INSERT INTO api_dep_probe (name) VALUES (:n)"), {"n": name})
        return JSONResponse({"detail": "returned, not raised"}, status_code=409)

    @router.post("/rows/{name}/orphan")
    async def insert_orphan(name: str, session: SessionDep) -> dict[str, str]:
        # The deferred foreign key fails only at COMMIT, after the endpoint returned.
        await session.execute(ORPHAN, {"n": name})
        return {"name": name}

    @router.post("/rows/{name}/orphan-plain-depends")
    async def insert_orphan_plain(
        name: str,
        session: AsyncSession = Depends(get_db_session),  # noqa: B008 -- the spelling under test
    ) -> dict[str, str]:
        # The spelling of the FastAPI tutorials, without scope="function": just as safe.
        await session.execute(ORPHAN, {"n": name})
        return {"name": name}

    @router.post("/rows/{name}/plain-depends")
    async def insert_plain(name: str, session: AsyncSession = Depends(get_db_session)) -> dict[str, str]:  # noqa: B008
        await session.execute(text("INSERT INTO api_dep_probe (name) VALUES (:n)"), {"n": name})
        return {"name": name}

    async def in_transaction(session: AsyncSession) -> dict[str, bool]:
        await session.execute(text("SELECT 1"))
        raw = await (await session.connection()).get_raw_connection()
        return {"in_transaction": raw.driver_connection.is_in_transaction()}

    @router.get("/transaction-state")
    async def read_state(session: SessionDep) -> dict[str, bool]:
        return await in_transaction(session)

    @router.post("/transaction-state")
    async def write_state(session: SessionDep) -> dict[str, bool]:
        return await in_transaction(session)

    @router.get("/cache-and-settings")
    async def cache_and_settings(redis: RedisDep, settings: SettingsDep) -> dict[str, object]:
        return {"pong": await redis.ping(), "app_name": settings.app_name}

    return router


@pytest.fixture
async def client(make_settings: MakeSettings):
    app = create_app(make_settings())
    app.include_router(_routes(), prefix="/api/v1")
    async with serve_in_process(app) as client:
        yield client


async def _stored(conn: asyncpg.Connection, name: str) -> bool:
    return bool(await conn.fetchval("SELECT count(*) FROM api_dep_probe WHERE name = $1", name))


async def test_success_is_committed_before_the_answer(client, table):
    response = await client.post("/api/v1/rows/a")

    assert response.status_code == 200
    assert await _stored(table, "a")


async def test_raised_http_exception_rolls_back(client, table):
    response = await client.post("/api/v1/rows/b/refused")

    assert response.status_code == 409
    assert not await _stored(table, "b")


async def test_returned_4xx_still_commits(client, table):
    response = await client.post("/api/v1/rows/c/answered-409")

    assert response.status_code == 409
    assert await _stored(table, "c")


@pytest.mark.parametrize("route", ["orphan", "orphan-plain-depends"])
async def test_failed_commit_is_a_409_problem_never_a_2xx_however_the_session_is_declared(
    client, table, route
):
    # A foreign-key violation no route foresaw is a conflict (docs/contract.md §5), found at COMMIT.
    response = await client.post(f"/api/v1/rows/d/{route}")

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert not await _stored(table, "d")


async def test_plain_depends_commits_before_the_answer(client, table):
    response = await client.post("/api/v1/rows/e/plain-depends")

    assert response.status_code == 200
    assert await _stored(table, "e")


async def test_redis_and_settings_dependencies_come_from_the_lifespan(client):
    response = await client.get("/api/v1/cache-and-settings")

    assert response.status_code == 200
    assert response.json() == {"pong": True, "app_name": "erp-api"}


async def test_concurrent_sessions_never_exceed_pool_size_plus_overflow(
    make_settings: MakeSettings, erp_db_url
):
    app_name = f"erp-api-pool-bound-{uuid.uuid4().hex[:8]}"  # its connections alone, whoever else runs
    settings = make_settings(APP_NAME=app_name, DATABASE_POOL_SIZE="3", DATABASE_MAX_OVERFLOW="2")
    app = create_app(settings)
    router = APIRouter()

    @router.get("/slow")
    async def slow(session: SessionDep) -> None:
        await session.execute(text("SELECT pg_sleep(0.2)"))

    app.include_router(router, prefix="/api/v1")
    seen: list[int] = []

    async def sample(counter: ConnectionCounter) -> None:
        while True:
            seen.append(await counter.count(app_name))
            await asyncio.sleep(0.02)

    async with ConnectionCounter(erp_db_url) as counter, serve_in_process(app) as client:
        sampler = asyncio.create_task(sample(counter))
        answers = await asyncio.gather(*(client.get("/api/v1/slow") for _ in range(30)))
        sampler.cancel()

    assert [answer.status_code for answer in answers] == [200] * 30
    assert max(seen) == 5  # the bound was reached, and never passed


async def test_overriding_get_db_session_reaches_routes_that_declare_session_dep(
    make_settings: MakeSettings,
):
    app = create_app(make_settings())
    router = APIRouter()

    @router.get("/api/v1/which-session")
    async def which(session: SessionDep) -> dict[str, str]:
        return {"session": session.info.get("name", "the app's own")}

    async def replacement():
        session = AsyncSession()
        session.info["name"] = "the override"
        yield session

    app.include_router(router)
    app.dependency_overrides[get_db_session] = replacement
    async with serve_in_process(app) as client:
        answer = await client.get("/api/v1/which-session")

    assert answer.json() == {"session": "the override"}


async def test_a_safe_method_reads_without_begin_and_commit_a_change_in_a_transaction(client):
    # Autocommit for GET: two round trips fewer; every other method keeps its transaction.
    read = await client.get("/api/v1/transaction-state")
    write = await client.post("/api/v1/transaction-state")

    assert read.json() == {"in_transaction": False}
    assert write.json() == {"in_transaction": True}


async def test_through_pgbouncer_reads_keep_their_transaction(make_settings: MakeSettings):
    # Outside a transaction, PgBouncer may send a statement and its prepared name to
    # different servers: the lifespan gives reads the transactional sessionmaker there.
    app = create_app(make_settings(DATABASE_PGBOUNCER="true"))
    app.include_router(_routes(), prefix="/api/v1")
    async with serve_in_process(app) as client:
        read = await client.get("/api/v1/transaction-state")

    assert read.json() == {"in_transaction": True}


def _sync_calls(dependant: Dependant) -> Iterator[str]:
    """The names of the plain ``def`` callables in ``dependant``'s tree, which FastAPI runs in a thread."""
    call = dependant.call
    # A class is called (its __init__, in a thread); an instance through its type's __call__.
    target = call if inspect.isroutine(call) or inspect.isclass(call) else type(call).__call__
    if call is not None and not (inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)):
        yield getattr(call, "__qualname__", type(call).__qualname__)
    for sub in dependant.dependencies:
        yield from _sync_calls(sub)


def test_no_route_hands_a_dependency_or_endpoint_to_a_worker_thread(make_settings: MakeSettings):
    app = create_app(make_settings())
    checked, threaded = 0, set()
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            checked += 1
            threaded.update(
                f"{context.path}: {name}" for name in _sync_calls(context.original_route.dependant)
            )
    assert checked > 20
    assert threaded == set()
