"""Tenant isolation, proven by search rather than assumed (docs/contract.md §10, §13).

Two organisations, each with an owner, an admin, a member, a pending
invitation, one row of every feature registered with
:func:`erp_api_testing.isolation.register_tenant_resource` (customers, from
their tests' conftest) and the audit events of building all that; plus an
outsider.
Hypothesis then calls every route of the API (found by walking the
application, so tomorrow's routes are included) as any of these users,
with path ids taken from the *other* organisation (its id, its members,
its invitations) mixed with the caller's own, and bodies carrying the other
organisation's emails, tokens, names and its rows' fields. Whatever the answer, nothing that
identifies the other organisation may appear in it, and nothing of the
other organisation may change.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erp_api_testing.isolation import tenant_resources
from erp_api_testing.organizations import API, Caller, OrganizationsApi

MakeCaller = Callable[..., Awaitable[Caller]]
# CI runs at least 200 examples; a developer's run can ask for more or fewer.
EXAMPLES = int(os.environ.get("TENANT_ISOLATION_EXAMPLES", "200"))
_PATH_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass
class Tenant:
    organization: dict[str, Any]
    owner: Caller
    admin: Caller
    member: Caller
    invitation: dict[str, Any]
    event_ids: list[str] = field(default_factory=list)
    # path parameter of a registered resource -> its row in this tenant, as created
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def users(self) -> list[Caller]:
        return [self.owner, self.admin, self.member]

    def ids(self) -> dict[str, list[str]]:
        """Candidate values of each path parameter, from this tenant."""
        return {
            "organization_id": [self.organization["id"]],
            "user_id": [str(user.id) for user in self.users],
            "invitation_id": [self.invitation["id"]],
            **{name: [row["id"]] for name, row in self.rows.items()},
        }

    def fingerprints(self) -> set[str]:
        """Strings that identify this tenant: none may reach another tenant's answers."""
        return {
            self.organization["id"],
            self.organization["slug"],
            self.organization["name"],
            self.invitation["id"],
            self.invitation["email"],
            self.invitation["token"],
            *self.event_ids,
            *(str(user.id) for user in self.users),
            *(user.email for user in self.users),
            *(
                str(self.rows[resource.path_param][name])
                for resource in tenant_resources()
                for name in resource.fingerprints
                if self.rows[resource.path_param].get(name) is not None
            ),
        }


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        if isinstance(context.original_route, APIRoute) and path.startswith(f"{API}/"):
            found += [(method, path) for method in sorted(context.methods or ()) if method != "HEAD"]
    return sorted(found)


def visible_text(response: httpx.Response) -> str:
    """What the answer tells the caller, less the echo of their own request path (``instance``)."""
    text = response.text
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        body = response.json()
        body.pop("instance", None)
        text = json.dumps(body)
    return text + " " + " ".join(f"{name}: {value}" for name, value in response.headers.items())


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, make_caller: MakeCaller) -> Any:
    """Built once for all the examples of the test; afterwards, neither tenant may have changed."""
    api = OrganizationsApi(client)
    tenants = [await _tenant(api, make_caller, label) for label in ("a", "b")]
    outsider = await make_caller()
    before = [await _state(client, tenant) for tenant in tenants]
    yield app, client, tenants, outsider
    assert [await _state(client, tenant) for tenant in tenants] == before


async def _tenant(api: OrganizationsApi, make_caller: MakeCaller, label: str) -> Tenant:
    owner, admin, member = await make_caller(), await make_caller(), await make_caller()
    organization = await api.create_organization(
        owner, name=f"Tenant {label} {uuid.uuid4().hex}", slug=f"tenant-{label}-{uuid.uuid4().hex[:12]}"
    )
    await api.add_member(organization["id"], owner, admin, "admin")
    await api.add_member(organization["id"], owner, member, "member")
    invitation = await api.invite(
        organization["id"], owner, f"invitee-{uuid.uuid4().hex[:12]}@example.org", "admin"
    )
    tenant = Tenant(organization, owner, admin, member, invitation)
    for resource in tenant_resources():
        tenant.rows[resource.path_param] = await resource.create(api.client, owner, organization["id"])
    events = await api.client.get(
        f"{API}/organizations/{organization['id']}/audit-events", headers=owner.headers
    )
    tenant.event_ids = [event["id"] for event in events.json()["items"]]
    assert len(tenant.event_ids) >= 6
    return tenant


@st.composite
def calls(draw: st.DrawFn, routes: list[tuple[str, str]], tenants: list[Tenant], outsider: Caller) -> Any:
    """One request: a caller, a route, path ids with at least one from the other tenant, a body."""
    side = draw(st.sampled_from([0, 1]))
    mine, other = tenants[side], tenants[1 - side]
    caller = draw(st.sampled_from([*mine.users, outsider]))
    method, path = draw(st.sampled_from(routes))
    names = _PATH_PARAMETER.findall(path)
    values = {}
    if names:
        foreign = draw(st.sampled_from(names))
        for name in names:
            own = mine.ids().get(name, [str(uuid.uuid4())])
            theirs = other.ids().get(name, [str(uuid.uuid4())])
            values[name] = draw(st.sampled_from(theirs if name == foreign else own + theirs))
    url = _PATH_PARAMETER.sub(lambda match: values[match[1]], path)
    body = draw(
        st.sampled_from(
            [
                {},
                {"role": "owner"},
                {"role": "member"},
                {"name": "Renamed"},
                {"slug": other.organization["slug"]},
                {"token": other.invitation["token"]},
                {"email": other.invitation["email"], "role": "admin"},
                {"email": other.owner.email, "role": "member"},
                *(
                    {name: value for name, value in row.items() if name not in ("id", "organization_id")}
                    for row in other.rows.values()
                ),
            ]
        )
    )
    return side, caller, method, url, bool(names), body


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_nothing_of_another_organisation_reaches_any_answer(world: Any, data: st.DataObject) -> None:
    app, client, tenants, outsider = world
    routes = api_routes(app)
    assert any("/organizations/{organization_id}" in path for _, path in routes)
    side, caller, method, url, has_path_ids, body = data.draw(calls(routes, tenants, outsider))
    other = tenants[1 - side]
    response = await client.request(method, url, json=body, headers={**caller.headers, "If-Match": "*"})
    text = visible_text(response)
    leaked = sorted(value for value in other.fingerprints() if value in text)
    assert not leaked, f"{method} {url} as a user of tenant {side}: {response.status_code} shows {leaked}"
    if has_path_ids:
        assert response.status_code >= 400, f"{method} {url}: {response.status_code}"


async def _state(client: httpx.AsyncClient, tenant: Tenant) -> Any:
    """What the owner sees of their organisation: it must not change under the other's calls."""
    base = f"{API}/organizations/{tenant.organization['id']}"
    headers = tenant.owner.headers
    organization = (await client.get(base, headers=headers)).json()
    members = (await client.get(f"{base}/members", headers=headers)).json()
    invitations = (await client.get(f"{base}/invitations", headers=headers)).json()
    rows = [
        (await client.get(f"{base}{resource.list_path}", headers=headers)).json()
        for resource in tenant_resources()
        if resource.list_path is not None
    ]
    return organization["version"], organization["archived_at"], members, invitations, rows
