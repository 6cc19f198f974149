"""Keyset pagination: the one implementation every list route uses (docs/contract.md §10).

A page is ``{"items": [...], "next_cursor": "<opaque>" | null}``. Rows are
ordered by a ``(timestamp, id)`` pair and the next page starts strictly after
the last row's pair, with a row comparison that an index on those columns
serves (``(created_at, id) > (:t, :id)``). Unlike ``OFFSET``, a row inserted
or removed meanwhile neither repeats nor skips a row between two pages.

The cursor is the position, signed: ``base64url(json([scope, t, id]) + mac)``
with an HMAC-SHA256 tag (16 bytes) under a key of the application. A cursor
that is not one we made, was altered, or belongs to another list (``scope``)
is a 422 problem, like any other invalid query parameter. Clients must treat
it as opaque.

A route declares ``page: Annotated[PageRequest, Depends(page_request("members"))]``
and answers ``answer(await page.fetch(session, statement, table.c.created_at,
table.c.id, ItemOut))``: one call that orders and bounds the statement
(:meth:`PageRequest.apply` fetches one row more than the limit, to know
whether another page follows), runs it and keeps each row's values for the
fields of ``ItemOut`` (:class:`RowPage`), written as JSON without a model
per row.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Generic, TypeVar

from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 100
CURSOR_MAX_LENGTH: Final = 256
_TAG_BYTES: Final = 16
_KEY_CONTEXT: Final = b"erp-api pagination cursor v1"

ItemT = TypeVar("ItemT")
Position = tuple[datetime, uuid.UUID]


class Page(BaseModel, Generic[ItemT]):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[ItemT]
    next_cursor: str | None = Field(description="Opaque; null on the last page.")


@dataclass(frozen=True, slots=True)
class RowPage:
    """A page whose items are rows' values as the database typed them, keyed by the answer model's fields.

    What :meth:`PageRequest.fetch` gives and :func:`erp_api.answers.answer`
    writes, as the :class:`Page` of that model would be written, in one pass
    of pydantic-core's serializer and without a model per row: building and
    validating 50 models was most of a list's cost (``nox -s instructions``).
    The route declares ``response_model=Page[ItemOut]`` for the document.
    """

    items: list[dict[str, Any]]
    next_cursor: str | None


class InvalidCursor(ValueError):
    """The cursor was not made by this service for this list."""


@dataclass(frozen=True, slots=True)
class CursorCodec:
    """Signs and checks cursors with ``key``; see the module docstring for the format."""

    key: bytes

    def encode(self, scope: str, position: Position) -> str:
        moment, row_id = position
        payload = json.dumps([scope, moment.isoformat(), row_id.hex], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(payload + self._tag(payload)).rstrip(b"=").decode("ascii")

    def decode(self, scope: str, cursor: str) -> Position:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise InvalidCursor from None
        payload, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
        if len(raw) <= _TAG_BYTES or not hmac.compare_digest(tag, self._tag(payload)):
            raise InvalidCursor
        try:
            cursor_scope, moment_text, id_hex = json.loads(payload)
            moment, row_id = datetime.fromisoformat(moment_text), uuid.UUID(hex=id_hex)
        except (ValueError, TypeError, AttributeError):
            raise InvalidCursor from None
        if cursor_scope != scope or moment.tzinfo is None:
            raise InvalidCursor
        return moment, row_id

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self.key, payload, hashlib.sha256).digest()[:_TAG_BYTES]


@dataclass(frozen=True, slots=True)
class PageRequest:
    """The page a caller asked for: at most ``limit`` rows strictly after ``after``."""

    scope: str
    limit: int
    after: Position | None
    codec: CursorCodec

    def apply(
        self,
        statement: Select[Any],
        moment: ColumnElement[datetime],
        row_id: ColumnElement[uuid.UUID],
        *,
        newest_first: bool = False,
    ) -> Select[Any]:
        """``statement`` ordered by ``(moment, row_id)``, past the cursor, ``limit + 1`` rows."""
        if self.after is not None:
            key, bound = tuple_(moment, row_id), tuple_(literal(self.after[0]), literal(self.after[1]))
            statement = statement.where(key < bound if newest_first else key > bound)
        order = (moment.desc(), row_id.desc()) if newest_first else (moment.asc(), row_id.asc())
        return statement.order_by(*order).limit(self.limit + 1)

    async def fetch(
        self,
        session: AsyncSession,
        statement: Select[Any],
        moment: ColumnElement[datetime],
        row_id: ColumnElement[uuid.UUID],
        item: type[BaseModel],
        *,
        newest_first: bool = False,
    ) -> RowPage:
        """Run ``statement`` for this page in ``(moment, row_id)`` order: each row as ``item``'s fields.

        ``statement`` selects (at least) a column named for each field of
        ``item``, the answer model of one row; only those reach the answer.
        """
        rows = (await session.execute(self.apply(statement, moment, row_id, newest_first=newest_first))).all()
        shown = rows[: self.limit]
        fields = tuple(item.model_fields)
        items = [{name: mapping[name] for name in fields} for mapping in (row._mapping for row in shown)]
        next_cursor = None
        if len(rows) > self.limit:  # the extra row only says "more follow"
            last = shown[-1]._mapping
            next_cursor = self.codec.encode(self.scope, (last[moment], last[row_id]))
        return RowPage(items=items, next_cursor=next_cursor)


def cursor_codec(request: Request) -> CursorCodec:
    """The application's codec: keyed by ``JWT_SECRET_KEY`` (so every replica reads every cursor).

    Without that key (development, test) the application makes a random one
    on first use; cursors then die with the process, like its tokens.
    """
    codec: CursorCodec | None = getattr(request.app.state, "cursor_codec", None)
    if codec is None:
        secret = request.state.settings.jwt_secret_key
        base = secret.get_secret_value().encode() if secret is not None else secrets.token_bytes(32)
        # A key of its own, derived: a cursor tag can never double as a token signature.
        codec = CursorCodec(hmac.new(base, _KEY_CONTEXT, hashlib.sha256).digest())
        request.app.state.cursor_codec = codec
    return codec


def page_request(scope: str) -> Callable[..., PageRequest]:
    """The dependency of one list route: ``limit`` (1 to 100, default 50) and ``cursor`` query parameters."""

    async def dependency(  # async: FastAPI runs a plain `def` dependency in a worker thread
        request: Request,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")] = DEFAULT_LIMIT,
        cursor: Annotated[
            str | None,
            Query(max_length=CURSOR_MAX_LENGTH, description="`next_cursor` of the previous page."),
        ] = None,
    ) -> PageRequest:
        codec = cursor_codec(request)
        after = None
        if cursor is not None:
            try:
                after = codec.decode(scope, cursor)
            except InvalidCursor:
                raise RequestValidationError(
                    [{"type": "cursor_invalid", "loc": ("query", "cursor"), "msg": "Invalid cursor"}]
                ) from None
        return PageRequest(scope=scope, limit=limit, after=after, codec=codec)

    return dependency
