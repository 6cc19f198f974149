"""Domain errors and unforeseen integrity violations, rendered as docs/contract.md §5 problems."""

import asyncpg
import pytest
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from erp_api import (
    Conflict,
    NotFound,
    PreconditionRequired,
    SessionDep,
    TooManyRequests,
    Unauthorized,
    violated_constraint,
)
from erp_core.testing import capture_logs

from .test_problems import assert_problem

SECRET_NAME = "row-value-sk_live_42"


@pytest.fixture
async def tables(erp_db_url: str):
    conn = await asyncpg.connect(erp_db_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    await conn.execute(
        "CREATE TABLE api_err_parent "
        "(name text CONSTRAINT uq_api_err_parent_name UNIQUE, note text NOT NULL);"
        "CREATE TABLE api_err_child (parent text CONSTRAINT fk_api_err_child_parent_api_err_parent "
        "REFERENCES api_err_parent (name))"
    )
    yield conn
    await conn.execute("DROP TABLE api_err_child; DROP TABLE api_err_parent")
    await conn.close()


class Named(BaseModel):
    name: str


INSERT_PARENT = text("INSERT INTO api_err_parent (name, note) VALUES (:name, :note)")


def _routes() -> APIRouter:
    router = APIRouter()

    @router.get("/missing")
    async def missing() -> None:
        raise NotFound("No such organisation")

    @router.get("/taken")
    async def taken() -> None:
        raise Conflict("This slug is taken", loc=("body", "slug"))

    @router.get("/sign-in")
    async def sign_in() -> None:
        raise Unauthorized("Sign in first", headers={"WWW-Authenticate": "Bearer"})

    @router.get("/slow-down")
    async def slow_down() -> None:
        raise TooManyRequests(headers={"Retry-After": "30"})

    @router.get("/needs-if-match")
    async def needs_if_match() -> None:
        raise PreconditionRequired()

    # The values travel in the body: the path would be quoted by the answer's `instance`.
    @router.post("/parents")
    async def unforeseen(parent: Named, session: SessionDep) -> None:
        await session.execute(INSERT_PARENT, {"name": parent.name, "note": "n"})

    @router.post("/parents/foreseen")
    async def foreseen(parent: Named, session: SessionDep) -> None:
        try:
            await session.execute(INSERT_PARENT, {"name": parent.name, "note": "n"})
        except IntegrityError as exc:
            if violated_constraint(exc) == "uq_api_err_parent_name":
                raise Conflict("This name is taken", loc=("body", "name")) from None
            raise

    @router.post("/children")
    async def orphan(child: Named, session: SessionDep) -> None:
        await session.execute(text("INSERT INTO api_err_child (parent) VALUES (:p)"), {"p": child.name})

    @router.post("/parents/no-note")
    async def not_null(parent: Named, session: SessionDep) -> None:
        await session.execute(INSERT_PARENT, {"name": parent.name, "note": None})

    return router


@pytest.fixture
def client(app, committing_client):
    """The plugin's app with these routes; committing, since the tests read rows from another connection."""
    app.include_router(_routes(), prefix="/api/v1")
    return committing_client


async def test_a_domain_error_is_the_problem_of_its_status(client):
    body = assert_problem(await client.get("/api/v1/missing"), 404, "Not Found")

    assert body["detail"] == "No such organisation"
    assert "errors" not in body


async def test_a_domain_error_with_loc_names_the_field_in_one_errors_entry(client):
    body = assert_problem(await client.get("/api/v1/taken"), 409, "Conflict")

    assert body["detail"] == "This slug is taken"
    assert body["errors"] == [{"loc": ["body", "slug"], "message": "This slug is taken", "type": "conflict"}]


@pytest.mark.parametrize(
    ("path", "status", "title", "header", "value"),
    [
        ("/api/v1/sign-in", 401, "Unauthorized", "www-authenticate", "Bearer"),
        ("/api/v1/slow-down", 429, "Too Many Requests", "retry-after", "30"),
    ],
)
async def test_a_domain_error_keeps_its_headers(client, path, status, title, header, value):
    response = await client.get(path)

    assert_problem(response, status, title)
    assert response.headers[header] == value
    assert "x-request-id" in response.headers  # the middleware's headers as well


async def test_a_domain_error_without_detail_says_its_title(client):
    body = assert_problem(await client.get("/api/v1/needs-if-match"), 428, "Precondition Required")

    assert body["detail"] == "Precondition Required"


async def test_an_unforeseen_unique_violation_is_a_409_quoting_nothing_and_rolls_back(client, tables):
    assert (await client.post("/api/v1/parents", json={"name": SECRET_NAME})).status_code == 200
    with capture_logs() as logs:
        response = await client.post("/api/v1/parents", json={"name": SECRET_NAME})

    body = assert_problem(response, 409, "Conflict")
    assert SECRET_NAME not in response.text
    assert "uq_api_err_parent_name" not in response.text  # the schema stays private too
    assert SECRET_NAME not in "\n".join(logs.lines)
    assert body["detail"] == "The request conflicts with the current state of the resource"
    assert await tables.fetchval("SELECT count(*) FROM api_err_parent") == 1


async def test_an_unforeseen_foreign_key_violation_is_a_409(client, tables):
    response = await client.post("/api/v1/children", json={"name": SECRET_NAME})

    assert_problem(response, 409, "Conflict")
    assert SECRET_NAME not in response.text


async def test_a_route_maps_a_constraint_it_foresaw_to_its_field(client, tables):
    await client.post("/api/v1/parents", json={"name": "acme"})
    body = assert_problem(
        await client.post("/api/v1/parents/foreseen", json={"name": "acme"}), 409, "Conflict"
    )

    assert body["errors"] == [{"loc": ["body", "name"], "message": "This name is taken", "type": "conflict"}]


async def test_a_not_null_violation_is_a_bug_an_opaque_500(client, tables):
    with capture_logs() as logs:
        response = await client.post("/api/v1/parents/no-note", json={"name": SECRET_NAME})

    assert_problem(response, 500, "Internal Server Error")
    assert SECRET_NAME not in response.text
    assert any(record["level"] == "ERROR" for record in logs.records)
