"""What the identity routes take and give (docs/contract.md §9)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, Form
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from erp_api.features.identity.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from erp_api.request_body import RequestBody

# Longer than any token we issue (43 characters), short enough to cost nothing.
REFRESH_TOKEN_MAX_LENGTH = 256
FULL_NAME_MAX_LENGTH = 200  # users.full_name is varchar(200) (erp_db.models.identity)

NewPassword = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]
FullName = Annotated[str, Field(max_length=FULL_NAME_MAX_LENGTH)]


async def password_form(
    *,
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
    username: Annotated[EmailStr, Form(description="The account's email.")],
    password: Annotated[
        str, Form(min_length=1, max_length=MAX_PASSWORD_LENGTH, json_schema_extra={"format": "password"})
    ],
    scope: Annotated[str, Form(max_length=1024)] = "",
    client_id: Annotated[str | None, Form(max_length=256)] = None,
    client_secret: Annotated[
        str | None, Form(max_length=256, json_schema_extra={"format": "password"})
    ] = None,
) -> OAuth2PasswordRequestForm:
    """The OAuth2 password grant's form, with the limits checked before any work.

    ``username`` is the email. A password longer than any stored one is a 422
    answer, never hashed; ``grant_type``, when sent, must be ``password``.
    A function rather than a class: FastAPI runs a class dependency's
    ``__init__`` in a worker thread.
    """
    return OAuth2PasswordRequestForm(
        grant_type=grant_type,
        username=username,
        password=password,
        scope=scope,
        client_id=client_id,
        client_secret=client_secret,
    )


PasswordForm = Annotated[OAuth2PasswordRequestForm, Depends(password_form)]


class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the OAuth2 token type)
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(description="Opaque; spend it once at /auth/refresh.")


class RefreshRequest(RequestBody):
    refresh_token: str = Field(min_length=1, max_length=REFRESH_TOKEN_MAX_LENGTH)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str
    is_superuser: bool
    created_at: datetime


class UserCreate(RequestBody):
    email: EmailStr
    full_name: FullName = ""
    password: NewPassword
    is_superuser: bool = False


class ProfilePatch(RequestBody):
    """A change of one's own profile; a new ``password`` needs ``current_password``."""

    full_name: FullName | None = None
    password: NewPassword | None = None
    current_password: Annotated[str, Field(max_length=MAX_PASSWORD_LENGTH)] | None = None
