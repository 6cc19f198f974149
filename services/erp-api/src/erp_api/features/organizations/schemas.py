"""What the organisation routes take and give (docs/contract.md §10).

Inputs are validated as sent: a name or slug with surrounding whitespace or
a trailing newline is a 422, never trimmed silently. Unknown fields are
refused, so a typo in a merge patch is an error rather than a no-op.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    EmailStr,
    Field,
    StringConstraints,
)

from erp_api.request_body import MergePatch, Name, RequestBody
from erp_api.tenancy import Role
from erp_db import SLUG_PATTERN

# pydantic's `pattern` runs Rust's regex engine, whose `$` matches only at the very
# end (Python's also matches before a final newline): "acme\n" is refused.
Slug = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=SLUG_PATTERN)]


class OrganizationCreate(RequestBody):
    name: Name
    slug: Slug


class OrganizationPatch(MergePatch):
    """A JSON merge patch (RFC 7396) of ``name`` and ``slug``; neither may be removed (null)."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"name", "slug"})

    name: Name | None = None
    slug: Slug | None = None


class OrganizationOut(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None
    version: int = Field(description="Starts at 1, +1 on every change; the `ETag` is its quoted value.")
    role: Role = Field(description="The caller's role in this organisation.")


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str
    full_name: str
    role: Role
    created_at: datetime


class MemberPatch(RequestBody):
    role: Role


class InvitationCreate(RequestBody):
    email: EmailStr
    role: Role = Role.MEMBER


class InvitationOut(BaseModel):
    """A pending invitation as listed: never its token."""

    id: uuid.UUID
    email: str
    role: Role
    created_at: datetime
    expires_at: datetime


class InvitationCreated(BaseModel):
    """The one answer that shows the token: it is stored only as a hash."""

    id: uuid.UUID
    email: str
    role: Role
    token: str
    expires_at: datetime


class InvitationAccept(RequestBody):
    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class AuditEventOut(BaseModel):
    id: uuid.UUID
    occurred_at: datetime
    actor_user_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    action: str
    target_type: str
    target_id: uuid.UUID
    changes: dict[str, Any] = Field(description='`{field: [old, new]}`; a secret shows as `"changed"`.')
    request_id: str | None
