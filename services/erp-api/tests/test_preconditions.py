"""Entity tags over a row's version: If-Match for changes, If-None-Match for reads (RFC 9110 §13)."""

from __future__ import annotations

import pytest

from erp_api.errors import PreconditionFailed, PreconditionRequired
from erp_api.preconditions import etag, expected_version, not_modified


def test_the_tag_is_the_quoted_version() -> None:
    assert etag(3) == '"3"'


def test_a_change_without_if_match_is_428() -> None:
    with pytest.raises(PreconditionRequired):
        expected_version(None, 3)


@pytest.mark.parametrize("header", ['"3"', '"2", "3"', "*", ' "3" '])
def test_if_match_with_the_current_tag_expects_the_current_version(header: str) -> None:
    assert expected_version(header, 3) == 3


@pytest.mark.parametrize("header", ['"2"', 'W/"3"', "3", "", '"33"'])
def test_a_stale_weak_or_malformed_if_match_is_412(header: str) -> None:
    with pytest.raises(PreconditionFailed):
        expected_version(header, 3)


@pytest.mark.parametrize("header", ['"3"', 'W/"3"', '"1", "3"', "*"])
def test_if_none_match_with_the_current_tag_is_a_bodiless_304(header: str) -> None:
    answer = not_modified(header, 3)
    assert answer is not None
    assert answer.status_code == 304
    assert answer.headers["ETag"] == '"3"'
    assert answer.body == b""


@pytest.mark.parametrize("header", [None, '"2"', ""])
def test_if_none_match_with_another_tag_reads_normally(header: str | None) -> None:
    assert not_modified(header, 3) is None
