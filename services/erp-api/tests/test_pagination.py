"""The cursor of every list route: opaque, signed, bound to its list (docs/contract.md §10)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest

from erp_api.pagination import CursorCodec, InvalidCursor

POSITION = (datetime(2026, 12, 1, 23, 40, 0, 123456, tzinfo=UTC), uuid.uuid4())


@pytest.fixture
def codec() -> CursorCodec:
    return CursorCodec(b"k" * 32)


def test_a_cursor_round_trips_to_the_exact_position(codec: CursorCodec) -> None:
    cursor = codec.encode("members", POSITION)
    assert codec.decode("members", cursor) == POSITION
    assert cursor.isascii()
    assert "=" not in cursor


def test_a_cursor_of_another_list_is_refused(codec: CursorCodec) -> None:
    with pytest.raises(InvalidCursor):
        codec.decode("organizations", codec.encode("members", POSITION))


def test_a_cursor_made_with_another_key_is_refused(codec: CursorCodec) -> None:
    with pytest.raises(InvalidCursor):
        codec.decode("members", CursorCodec(b"x" * 32).encode("members", POSITION))


def test_a_cursor_with_an_altered_position_is_refused(codec: CursorCodec) -> None:
    raw = base64.urlsafe_b64decode(codec.encode("members", POSITION) + "==")
    payload, tag = raw[:-16], raw[-16:]
    scope, _moment, row_id = json.loads(payload)
    forged = json.dumps([scope, "2000-01-01T00:00:00+00:00", row_id], separators=(",", ":")).encode()
    with pytest.raises(InvalidCursor):
        codec.decode("members", base64.urlsafe_b64encode(forged + tag).decode())


@pytest.mark.parametrize("cursor", ["", "x", "!!!!", "a" * 40, "eyJ9", "\u00e9t\u00e9"])
def test_malformed_cursors_are_refused(codec: CursorCodec, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        codec.decode("members", cursor)


def test_a_signed_but_naive_or_misshapen_position_is_refused(codec: CursorCodec) -> None:
    for payload in (["members", "2026-12-01T00:00:00", uuid.uuid4().hex], ["members", "x"], {"a": 1}):
        data = json.dumps(payload).encode()
        cursor = base64.urlsafe_b64encode(data + codec._tag(data)).decode()
        with pytest.raises(InvalidCursor):
            codec.decode("members", cursor)


def test_a_page_of_rows_is_written_exactly_as_the_page_of_models() -> None:
    # RowPage skips a model per row: the bytes must be those the models would give.
    from datetime import UTC, datetime

    from pydantic import BaseModel

    from erp_api.answers import answer
    from erp_api.pagination import Page, RowPage

    class Item(BaseModel):
        id: uuid.UUID
        name: str
        at: datetime
        note: str | None

    rows = [
        {
            "id": uuid.uuid4(),
            "name": 'Ünïcødé "quoted"',
            "at": datetime(2026, 12, 6, 21, 0, 0, 1234, tzinfo=UTC),
            "note": None,
        },
        {"id": uuid.uuid4(), "name": "b", "at": datetime(2026, 1, 1, tzinfo=UTC), "note": "n"},
    ]

    written = answer(RowPage(items=rows, next_cursor="abc")).body
    modelled = Page[Item](items=[Item(**row) for row in rows], next_cursor="abc").model_dump_json().encode()

    assert written == modelled
