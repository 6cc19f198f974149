"""Customers in the tenant-isolation property test: each tenant gets one, searched for by the other."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from erp_api_testing.isolation import TenantResource, register_tenant_resource
from erp_api_testing.organizations import API, Caller


async def create_customer(client: httpx.AsyncClient, owner: Caller, organization_id: str) -> dict[str, Any]:
    body = {"name": f"Customer {uuid.uuid4().hex}", "vat_number": f"DE{uuid.uuid4().int % 10**9:09d}"}
    response = await client.post(
        f"{API}/organizations/{organization_id}/customers", json=body, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


register_tenant_resource(
    TenantResource(
        "customer_id", create_customer, fingerprints=("id", "name", "vat_number"), list_path="/customers"
    )
)
