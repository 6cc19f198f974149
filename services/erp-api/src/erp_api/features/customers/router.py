"""The customer routes (docs/contract.md §13): access, statement, audit, answer; all from the kit.

:func:`~erp_api.tenancy.organization_access` reads the caller, their
membership and the customer in one statement: another tenant's customer is
a 404 like an unknown id.
"""

from __future__ import annotations

import functools
import uuid
from typing import Annotated, Final

from fastapi import Body, Depends, Header, Query, Request, Response, status
from sqlalchemy import Table, bindparam, func, select

from erp_api.answers import answer, path_for
from erp_api.audit import Event, created, record_events
from erp_api.dependencies import SessionDep
from erp_api.pagination import Keyset, Page, PageRequest, keyset, page_request
from erp_api.preconditions import etag, not_modified
from erp_api.request_body import Text
from erp_api.routes.feature_router import FeatureRouter
from erp_api.tenancy import Access, Claim, Resource, Role, organization_access, organization_claim
from erp_api.versioned import archive_row, insert_row, merge_patch, merge_patch_body
from erp_db import Customer

from .schemas import CustomerCreate, CustomerOut, CustomerPatch

customers: Final[Table] = Customer.__table__  # type: ignore[assignment]
CUSTOMERS: Final = Resource(customers, "customer_id", "Customer not found")
TAKEN: Final = "A live customer of this organization has that VAT number"
VAT_TAKEN: Final = {"uq_customers_organization_id_vat_number": (TAKEN, ("body", "vat_number"))}
PATH: Final = "/organizations/{organization_id}/customers"

MemberOfCustomers = Annotated[Access, Depends(organization_access(Role.MEMBER, CUSTOMERS, names_row=False))]
MemberCreating = Annotated[Claim, Depends(organization_claim(Role.MEMBER))]
MemberCustomer = Annotated[Access, Depends(organization_access(Role.MEMBER, CUSTOMERS))]
AdminCustomer = Annotated[Access, Depends(organization_access(Role.ADMIN, CUSTOMERS))]

router = FeatureRouter(tags=["customers"])


@router.get(PATH, response_model=Page[CustomerOut])
async def list_customers(
    access: MemberOfCustomers,
    session: SessionDep,
    page: Annotated[PageRequest, Depends(page_request("customers"))],
    include_archived: Annotated[bool, Query(description="Include archived customers.")] = False,
    q: Annotated[
        Text | None, Query(min_length=1, max_length=200, description="A prefix of the name.")
    ] = None,
) -> Response:
    """The organisation's customers, oldest first; ``q`` keeps those whose name starts with it (any case)."""
    escaped = q and q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    params = {"organization_id": access.organization_id, "q": escaped}
    return answer(await page.fetch(session, _listed(include_archived, q is not None), CustomerOut, params))


@functools.cache
def _listed(include_archived: bool, searching: bool) -> Keyset:
    """The list's statement for each kind of request, built once."""
    statement = select(*customers.c).where(customers.c.organization_id == bindparam("organization_id"))
    if not include_archived:
        statement = statement.where(customers.c.archived_at.is_(None))
    if searching:  # lower(name) LIKE lower(:q) || '%': ix_customers_organization_id_lower_name
        statement = statement.where(
            func.lower(customers.c.name).like(func.lower(bindparam("q")) + "%", escape="\\")
        )
    return keyset(statement, customers.c.created_at, customers.c.id)


@router.post(PATH, status_code=status.HTTP_201_CREATED, response_model=CustomerOut)
async def create_customer(
    claim: MemberCreating, body: CustomerCreate, session: SessionDep, request: Request
) -> Response:
    """Add a customer (member); a VAT number that a live customer here holds is a 409."""
    values, row_id = body.model_dump(), uuid.uuid4()
    event = Event(
        "customer.created", claim.user_id, "customer", row_id, claim.organization_id, created(values)
    )
    new = {"id": row_id, "organization_id": claim.organization_id, **values}
    row = await insert_row(session, customers, new, conflicts=VAT_TAKEN, event=event, claim=claim)
    location = path_for(
        request, "read_customer", organization_id=str(claim.organization_id), customer_id=str(row.id)
    )
    headers = {"Location": location, "ETag": etag(row.version)}
    return answer(
        CustomerOut.model_construct(**row._mapping), status_code=status.HTTP_201_CREATED, headers=headers
    )


@router.get(
    f"{PATH}/{{customer_id}}",
    response_model=CustomerOut,
    responses={304: {"description": "Not modified: `If-None-Match` names the current `ETag`."}},
)
async def read_customer(
    access: MemberCustomer, if_none_match: Annotated[str | None, Header()] = None
) -> Response:
    """The customer, with its `ETag`; `If-None-Match` with that tag answers 304."""
    unchanged = not_modified(if_none_match, access.version)
    if unchanged is not None:
        return unchanged
    return answer(CustomerOut.model_construct(**access.row._mapping), headers={"ETag": etag(access.version)})


@router.patch(
    f"{PATH}/{{customer_id}}", response_model=CustomerOut, openapi_extra=merge_patch_body("CustomerPatch")
)
async def update_customer(
    access: MemberCustomer,
    body: Annotated[CustomerPatch, Body()],
    session: SessionDep,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Change a customer (JSON merge patch, member); needs `If-Match` with the current `ETag`."""
    row, changes = await merge_patch(
        session, customers, access, body.changes(), if_match, what="customer", conflicts=VAT_TAKEN
    )
    if changes:
        await record_events(
            session,
            Event("customer.updated", access.user_id, "customer", row.id, access.organization_id, changes),
        )
    return answer(CustomerOut.model_construct(**row._mapping), headers={"ETag": etag(row.version)})


@router.delete(f"{PATH}/{{customer_id}}", status_code=status.HTTP_204_NO_CONTENT)
async def archive_customer(access: AdminCustomer, session: SessionDep) -> None:
    """Archive the customer (admin); archiving again changes nothing."""
    access.refuse_if_archived()
    row = await archive_row(session, customers, access.row.id)
    if row is not None:
        changes = {"archived_at": (None, row.archived_at)}
        await record_events(
            session,
            Event("customer.archived", access.user_id, "customer", row.id, access.organization_id, changes),
        )
