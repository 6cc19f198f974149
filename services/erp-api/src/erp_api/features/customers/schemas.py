"""What the customer routes take and give (docs/contract.md §13)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import BaseModel, EmailStr, Field, StringConstraints

from erp_api.request_body import MergePatch, Name, RequestBody
from erp_db import VAT_NUMBER_PATTERN

VatNumber = Annotated[str, StringConstraints(pattern=VAT_NUMBER_PATTERN)]


class CustomerCreate(RequestBody):
    name: Name
    email: EmailStr | None = None
    vat_number: VatNumber | None = None


class CustomerPatch(MergePatch):
    """A JSON merge patch: ``null`` removes ``email`` or ``vat_number``; ``name`` stays."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"name"})

    name: Name | None = None
    email: EmailStr | None = None
    vat_number: VatNumber | None = None


class CustomerOut(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    email: str | None
    vat_number: str | None
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None
    version: int = Field(description="Starts at 1, +1 on every change; the `ETag` is its quoted value.")
