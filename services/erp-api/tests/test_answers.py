"""A page of rows is written as pydantic-core would write it; a route's path is found once."""

from __future__ import annotations

import enum
import json
import uuid
from decimal import Decimal

import pytest
from fastapi import APIRouter, FastAPI, Request
from pydantic_core import to_json
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import NoMatchFound

from erp_api.answers import answer, path_for
from erp_api.pagination import RowPage

# Every type a list's row brings from PostgreSQL, with the edge cases of each:
# asyncpg's UUID subclass, UTC times with and without microseconds, NULLs, and
# text that JSON must escape.
ROWS = text(
    """
    SELECT gen_random_uuid() AS id,
           'Caf\u00e9 "' || g || E'"\\n\\t\u2028\U0001f600 <b>&' AS name,
           CASE WHEN g % 2 = 0 THEN NULL ELSE 'x' || g || '@example.org' END AS email,
           now() - g * interval '1.5 second' AS created_at,
           date_trunc('second', now()) AS updated_at,
           CASE WHEN g % 3 = 0 THEN NULL ELSE timestamptz '2020-01-01 00:00:00.000100+00' END AS archived_at,
           g AS version,
           g % 2 = 0 AS active,
           (g * 1.25)::numeric AS amount
    FROM generate_series(1, 50) AS g
    """
)


class Role(enum.StrEnum):
    OWNER = "owner"


@pytest.mark.asyncio(loop_scope="session")
async def test_a_page_of_database_rows_is_the_bytes_pydantic_writes(erp_db_session: AsyncSession) -> None:
    rows = (await erp_db_session.execute(ROWS)).all()
    items = [dict(row._mapping) for row in rows]
    assert type(items[0]["id"]) is not uuid.UUID  # asyncpg's subclass: the case orjson leaves to us
    items[0]["role"], items[1]["ratio"] = Role.OWNER, Decimal("0.10")
    for cursor in (None, "abc"):
        page = RowPage(items=items, next_cursor=cursor)
        body = answer(page).body
        assert body == to_json({"items": items, "next_cursor": cursor})
        assert json.loads(body)["items"][0]["id"] == str(items[0]["id"])


def test_path_for_is_url_path_for_with_the_walk_done_once() -> None:
    app, router = FastAPI(), APIRouter(prefix="/things/{owner_id}")

    @router.get("/parts/{part_id}", name="read_part")
    async def read_part(owner_id: str, part_id: str) -> None: ...

    app.include_router(router, prefix="/api")
    request = Request({"type": "http", "app": app})
    for owner, part in (("a1", "b1"), ("a2", "b2")):
        expected = app.url_path_for("read_part", owner_id=owner, part_id=part)
        assert path_for(request, "read_part", owner_id=owner, part_id=part) == expected
    assert list(app.state.path_templates.values()) == ["/api/things/{owner_id}/parts/{part_id}"]
    with pytest.raises(NoMatchFound):
        path_for(request, "read_part", owner_id="a1")
