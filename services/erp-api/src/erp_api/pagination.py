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

A list's statement is built once, at import, with its values as bound
parameters: ``MEMBERS = keyset(select(...).where(table.c.organization_id ==
bindparam("organization_id")), table.c.created_at, table.c.id)`` orders it,
bounds it (one row more than the limit, to know whether another page
follows) and adds the cursor's comparison. A route declares ``page:
Annotated[PageRequest, Depends(page_request("members"))]`` and answers
``answer(await page.fetch(session, MEMBERS, ItemOut, {"organization_id":
...}))``: one call that runs it and keeps each row's values for the fields of
``ItemOut`` (:class:`RowPage`), written as JSON without a model per row.
Building the statement on every request cost more than writing the page
(``nox -s instructions``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Generic, TypeVar

from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy import BindParameter, ColumnElement, Row, Select, bindparam, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 100
CURSOR_MAX_LENGTH: Final = 256
_TAG_BYTES: Final = 16
_KEY_CONTEXT: Final = b"erp-api pagination cursor v1"

# The bound parameters keyset() adds; a list's own statement must not use these names.
_LIMIT: Final = "page_limit"
_AFTER_MOMENT: Final = "page_after_moment"
_AFTER_ID: Final = "page_after_id"

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
class Keyset:
    """A list's statement, built once, in its two paged forms: :func:`keyset` makes it."""

    first: Select[Any]
    following: Select[Any]
    moment: ColumnElement[datetime]
    row_id: ColumnElement[uuid.UUID]


def keyset(
    statement: Select[Any],
    moment: ColumnElement[datetime],
    row_id: ColumnElement[uuid.UUID],
    *,
    newest_first: bool = False,
) -> Keyset:
    """``statement`` ordered by ``(moment, row_id)`` and bounded, for a first page and for one after a cursor.

    Call it once, at import: ``statement`` takes its values as ``bindparam``
    (given to :meth:`PageRequest.fetch`), so that no request builds SQL.
    """
    order = (moment.desc(), row_id.desc()) if newest_first else (moment.asc(), row_id.asc())
    key = tuple_(moment, row_id)
    bound = tuple_(bindparam(_AFTER_MOMENT, type_=moment.type), bindparam(_AFTER_ID, type_=row_id.type))
    limit: BindParameter[int] = bindparam(_LIMIT)
    first = statement.order_by(*order).limit(limit)
    following = statement.where(key < bound if newest_first else key > bound).order_by(*order).limit(limit)
    return Keyset(first, following, moment, row_id)


@dataclass(frozen=True, slots=True)
class PageRequest:
    """The page a caller asked for: at most ``limit`` rows strictly after ``after``."""

    scope: str
    limit: int
    after: Position | None
    codec: CursorCodec

    async def fetch(
        self,
        session: AsyncSession,
        paged: Keyset,
        item: type[BaseModel],
        params: Mapping[str, Any] | None = None,
    ) -> RowPage:
        """This page of ``paged`` (``params`` bound): each row as ``item``'s fields.

        The statement selects (at least) a column named for each field of
        ``item``, the answer model of one row; only those reach the answer.
        """
        values = {**(params or {}), _LIMIT: self.limit + 1}
        statement = paged.first
        if self.after is not None:
            statement = paged.following
            values[_AFTER_MOMENT], values[_AFTER_ID] = self.after
        result = await session.execute(statement, values)
        rows = result.all()
        shown = rows[: self.limit]
        fields = tuple(item.model_fields)
        items = [dict(zip(fields, picked, strict=True)) for picked in _picked(result.keys(), fields, shown)]
        next_cursor = None
        if len(rows) > self.limit:  # the extra row only says "more follow"
            last = shown[-1]._mapping
            next_cursor = self.codec.encode(self.scope, (last[paged.moment], last[paged.row_id]))
        return RowPage(items=items, next_cursor=next_cursor)


def _picked(
    keys: Sequence[str], fields: tuple[str, ...], rows: Sequence[Row[Any]]
) -> Sequence[Sequence[Any]]:
    """Each row's values for ``fields``, in their order: the rows themselves when they are exactly that."""
    names = tuple(keys)
    if names == fields:
        return rows
    where = [names.index(name) for name in fields]  # ValueError: the statement lacks a field
    return [[row[index] for index in where] for row in rows]


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


def page_request(scope: str) -> Callable[..., Awaitable[PageRequest]]:
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
