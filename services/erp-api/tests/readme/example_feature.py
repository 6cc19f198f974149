from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from erp_api import Conflict, SessionDep, violated_constraint
from erp_db import Organization

router = APIRouter(prefix="/example-organisations", tags=["example"])


class OrganisationIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$")


class OrganisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    slug: str


@router.post("", status_code=201)
async def create_organisation(body: OrganisationIn, session: SessionDep) -> OrganisationOut:
    organisation = Organization(name=body.name, slug=body.slug)
    session.add(organisation)
    try:
        await session.flush()  # the INSERT runs now: the row has its id, a taken slug fails here
    except IntegrityError as exc:
        if violated_constraint(exc) == "uq_organizations_slug":
            raise Conflict("An organisation with this slug exists", loc=("body", "slug")) from None
        raise  # any other conflict: a 409 that names no field
    return OrganisationOut.model_validate(organisation)  # committed before the answer is sent
