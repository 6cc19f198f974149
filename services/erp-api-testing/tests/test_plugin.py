"""The feature-test harness of erp_api_testing.plugin: an isolated client, and private servers when needed."""

import os
import subprocess
import sys
import textwrap

import httpx
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from erp_api import SessionDep, get_db_session
from erp_api_testing.statements import count_statements


class Note(BaseModel):
    name: str


def _notes_routes() -> APIRouter:
    router = APIRouter()

    @router.post("/notes", status_code=201)
    async def add(note: Note, session: SessionDep) -> Note:
        await session.execute(text("INSERT INTO plugin_notes (name) VALUES (:n)"), {"n": note.name})
        return note

    @router.post("/notes/plain-depends", status_code=201)
    async def add_plain(note: Note, session: AsyncSession = Depends(get_db_session)) -> Note:  # noqa: B008
        await session.execute(text("INSERT INTO plugin_notes (name) VALUES (:n)"), {"n": note.name})
        return note

    return router


async def _with_notes(app: FastAPI, session: AsyncSession) -> None:
    # Created inside the test's transaction: the table itself is gone after the test.
    await session.execute(
        text("CREATE TABLE plugin_notes (name text CONSTRAINT uq_plugin_notes_name UNIQUE)")
    )
    app.include_router(_notes_routes(), prefix="/api/v1")


async def _names(session: AsyncSession) -> list[str]:
    return list((await session.scalars(text("SELECT name FROM plugin_notes ORDER BY name"))).all())


async def test_what_the_app_commits_the_test_sees_and_no_other_connection_does(
    app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession, erp_db_engine: AsyncEngine
):
    await _with_notes(app, db_session)

    assert (await client.post("/api/v1/notes", json={"name": "a"})).status_code == 201
    assert (await client.post("/api/v1/notes/plain-depends", json={"name": "b"})).status_code == 201

    assert await _names(db_session) == ["a", "b"]
    async with erp_db_engine.connect() as outside:
        assert await outside.scalar(text("SELECT to_regclass('plugin_notes')")) is None


async def test_a_conflict_rolls_back_that_request_only_and_the_test_goes_on(
    app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
):
    await _with_notes(app, db_session)
    await client.post("/api/v1/notes", json={"name": "a"})

    conflict = await client.post("/api/v1/notes", json={"name": "a"})
    after = await client.post("/api/v1/notes", json={"name": "c"})

    assert conflict.status_code == 409
    assert after.status_code == 201
    assert await _names(db_session) == ["a", "c"]


async def test_the_committing_client_commits_through_the_apps_own_pool(
    app: FastAPI, committing_client: httpx.AsyncClient, erp_db_engine: AsyncEngine
):
    async with erp_db_engine.begin() as connection:
        await connection.execute(text("CREATE TABLE plugin_committed (name text)"))
    router = APIRouter()

    @router.post("/committed")
    async def add(session: SessionDep) -> None:
        await session.execute(text("INSERT INTO plugin_committed VALUES ('x')"))

    app.include_router(router, prefix="/api/v1")
    try:
        assert (await committing_client.post("/api/v1/committed")).status_code == 200
        async with erp_db_engine.connect() as outside:
            assert await outside.scalar(text("SELECT count(*) FROM plugin_committed")) == 1
    finally:
        async with erp_db_engine.begin() as connection:
            await connection.execute(text("DROP TABLE plugin_committed"))


def test_a_run_starts_servers_of_its_own_where_none_listen(tmp_path):
    """A feature project's tests, with the plugin alone, on servers of the run's own."""
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent("""
        [tool.pytest.ini_options]
        asyncio_mode = "auto"
        asyncio_default_fixture_loop_scope = "session"
        asyncio_default_test_loop_scope = "session"
        """)
    )
    (tmp_path / "test_feature.py").write_text(
        textwrap.dedent("""
        async def test_ready(client):
            response = await client.get("/healthz/ready")
            assert response.status_code == 200, response.text
        """)
    )
    # `always`: the machine's servers listen at the default URLs, which `auto` would use.
    env = {"PATH": os.environ["PATH"], "TEST_PRIVATE_SERVERS": "always"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "nothing listened, started private PostgreSQL on port" in result.stdout
    assert "Redis on port" in result.stdout


async def test_a_failing_request_leaves_the_tests_own_writes_in_place(
    app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
):
    await _with_notes(app, db_session)
    await db_session.execute(text("INSERT INTO plugin_notes (name) VALUES ('set-up')"))  # not committed

    conflict = await client.post("/api/v1/notes", json={"name": "set-up"})

    assert conflict.status_code == 409
    assert await _names(db_session) == ["set-up"]


async def test_make_user_writes_in_the_tests_transaction_and_the_app_reads_it_with_sql(
    client: httpx.AsyncClient, make_user, auth_headers, erp_db_engine: AsyncEngine
):
    user = await make_user()

    with count_statements() as statements:
        me = await client.get("/api/v1/users/me", headers=auth_headers(user))

    assert me.status_code == 200
    assert me.json()["id"] == str(user.id)
    assert len(statements) == 1, statements  # not served from the test's identity map
    async with erp_db_engine.connect() as outside:
        assert await outside.scalar(text("SELECT count(*) FROM users WHERE id = :id"), {"id": user.id}) == 0
