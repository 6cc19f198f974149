import asyncio
import contextlib
import contextvars
import logging
import re
import uuid

import pytest

from erp_core import (
    bind_request_id,
    get_request_id,
    is_valid_request_id,
    new_request_id,
    request_id_from,
)
from erp_core.testing import capture_logs


def test_new_request_id_is_uuid4_hex():
    first, second = new_request_id(), new_request_id()

    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first[12] == "4"
    assert first != second
    for _ in range(200):
        parsed = uuid.UUID(hex=new_request_id())
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)


@pytest.mark.parametrize("value", ["a", "abc-DEF_1.2", "x" * 128])
def test_valid_caller_ids_are_kept(value: str):
    assert is_valid_request_id(value)
    assert request_id_from(value) == value


@pytest.mark.parametrize("value", [None, "", "x" * 129, "a b", "a\nb", "id;drop", "ünïcode", "a/b"])
def test_invalid_caller_ids_are_replaced(value: str | None):
    assert not is_valid_request_id(value)
    replacement = request_id_from(value)
    assert replacement != value
    assert is_valid_request_id(replacement)


def test_bound_id_is_on_records_from_any_logger_and_absent_outside():
    with capture_logs() as logs:
        logging.getLogger("outside.before").info("before")
        with bind_request_id("req-123"):
            logging.getLogger("erp.something").info("inside")
            logging.getLogger("third.party").warning("also inside")
        logging.getLogger("outside.after").info("after")

    records = {record["message"]: record for record in logs.records}
    assert records["inside"]["request_id"] == "req-123"
    assert records["also inside"]["request_id"] == "req-123"
    assert "request_id" not in records["before"]
    assert "request_id" not in records["after"]


async def test_bound_id_follows_tasks_and_does_not_leak_between_them():
    async def serve(request_id: str) -> str | None:
        with bind_request_id(request_id):
            await asyncio.sleep(0.01)
            return await asyncio.create_task(asyncio.sleep(0, result=get_request_id()))

    results = await asyncio.gather(serve("one"), serve("two"))

    assert results == ["one", "two"]
    assert get_request_id() is None


def test_an_error_leaves_the_id_bound_only_when_asked():
    def kept_after_error() -> str | None:
        with pytest.raises(KeyError), bind_request_id("kept-1", keep_on_error=True):
            raise KeyError("x")
        return get_request_id()

    with bind_request_id("outer"):
        with pytest.raises(KeyError), bind_request_id("dropped-1"):
            raise KeyError("x")
        restored = get_request_id()

    # A copied context, as each server task has: the kept id must not leak into later tests.
    assert contextvars.copy_context().run(kept_after_error) == "kept-1"
    assert restored == "outer"
    assert get_request_id() is None


async def test_an_id_kept_after_an_error_stays_in_its_own_task():
    async def fails() -> None:
        with bind_request_id("task-1", keep_on_error=True):
            raise KeyError("x")

    async def fails_then_reads() -> str | None:
        with contextlib.suppress(KeyError):
            await fails()
        return get_request_id()  # what a server's error line, in the same task, would see

    assert await asyncio.create_task(fails_then_reads()) == "task-1"
    assert get_request_id() is None
