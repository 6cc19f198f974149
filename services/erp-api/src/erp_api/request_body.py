"""The base of every request body: unknown fields refused, no NUL character in any text.

PostgreSQL's ``text`` cannot hold U+0000: a name with one in it used to
reach the database and fail there, a 500. Every string of a body that
derives from :class:`RequestBody` (top level, in lists, in nested bodies) is
checked at the schema, so such a request is a 422 problem naming the field,
like any other invalid input (docs/contract.md §5). A feature gets this by
deriving its bodies from :class:`RequestBody`; :data:`Text` does the same for
a string taken from a query or a form.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, ValidationInfo, field_validator

NUL: Final = "\x00"
NUL_MESSAGE: Final = "must not contain the NUL character (U+0000)"


def refuse_nul(value: str) -> str:
    if NUL in value:
        raise ValueError(NUL_MESSAGE)
    return value


Text = Annotated[str, AfterValidator(refuse_nul)]


def as_sent(value: str) -> str:
    if value != value.strip():
        raise ValueError("must not start or end with whitespace")
    return value


# A name of docs/contract.md §10 and §13: 1 to 200 characters, validated as sent:
# surrounding whitespace or a trailing newline is a 422, never trimmed silently.
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(as_sent)]


def _refuse_nul_within(value: Any) -> None:
    if isinstance(value, str):
        refuse_nul(value)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _refuse_nul_within(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul_within(key)
            _refuse_nul_within(item)


class RequestBody(BaseModel):
    """Derive every request body from this: ``extra="forbid"``, and no NUL in any string."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        _refuse_nul_within(value)
        return value


class MergePatch(RequestBody):
    """A JSON merge patch (RFC 7396): the fields present are replaced, ``null`` removes one.

    A subclass lists in ``REQUIRED`` the fields that ``null`` may not remove.
    """

    REQUIRED: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _not_removable(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name in cls.REQUIRED:
            raise ValueError("cannot be removed")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the patch sets, with their new values."""
        return self.model_dump(exclude_unset=True)
