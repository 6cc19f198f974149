"""No NUL character in any text of a request body: a 422 at the schema, never a database error."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError

from erp_api.request_body import NUL_MESSAGE, RequestBody, Text


class Thing(RequestBody):
    name: str
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)


class Wrapper(RequestBody):
    thing: Thing


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a\x00b"}, "name"),
        ({"name": "ok", "tags": ["fine", "not\x00fine"]}, "tags"),
        ({"name": "ok", "labels": {"k\x00": "v"}}, "labels"),
        ({"name": "ok", "labels": {"k": "\x00"}}, "labels"),
    ],
)
def test_a_nul_anywhere_in_a_body_is_a_validation_error_naming_the_field(
    body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        Thing.model_validate(body)
    (error,) = raised.value.errors()
    assert error["loc"] == (field,)
    assert NUL_MESSAGE in error["msg"]


def test_nested_bodies_are_checked_too() -> None:
    with pytest.raises(ValidationError) as raised:
        Wrapper.model_validate({"thing": {"name": "\x00"}})
    assert raised.value.errors()[0]["loc"] == ("thing", "name")


def test_unknown_fields_are_refused_and_clean_text_passes() -> None:
    with pytest.raises(ValidationError):
        Thing.model_validate({"name": "ok", "surprise": 1})
    assert Thing.model_validate({"name": "Ünïcødé ok", "tags": ["a"]}).name == "Ünïcødé ok"


def test_the_text_type_refuses_nul_outside_bodies_too() -> None:
    class Query(BaseModel):
        q: Text

    with pytest.raises(ValidationError):
        Query.model_validate({"q": "x\x00"})
    assert Query.model_validate({"q": "x"}).q == "x"
