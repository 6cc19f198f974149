"""A feature's rows in the tenant-isolation property test (docs/contract.md §10, §13).

The property test builds two organisations and calls every route under
``/organizations/{organization_id}`` as members of one with the other's ids.
It knows the organisation's own ids (members, invitations); a feature adds
its rows by registering a :class:`TenantResource` from its tests'
``conftest.py``::

    register_tenant_resource(
        TenantResource("customer_id", create_customer, fingerprints=("id", "name", "vat_number"),
                       list_path="/customers")
    )

Each tenant then gets one such row, its id becomes a candidate for
``{customer_id}`` in every path, its fingerprints must never appear in the
other tenant's answers, and its list (``list_path``) must read the same
after the search as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from erp_api_testing.organizations import Caller

# (client, owner, organization id) -> the created row, as the API answered it
CreateRow = Callable[[httpx.AsyncClient, Caller, str], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class TenantResource:
    """How to make one row of a feature in a tenant, and what of it identifies the tenant."""

    path_param: str
    create: CreateRow
    fingerprints: tuple[str, ...] = ("id",)
    list_path: str | None = None


_REGISTERED: dict[str, TenantResource] = {}


def register_tenant_resource(resource: TenantResource) -> None:
    """Add ``resource`` to the tenant-isolation test of this run (again: replaced)."""
    _REGISTERED[resource.path_param] = resource


def tenant_resources() -> list[TenantResource]:
    return list(_REGISTERED.values())
