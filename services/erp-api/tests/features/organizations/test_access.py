"""No route under /organizations/{organization_id} can forget the membership check (docs/contract.md §10).

The routes are found by walking the application, not listed by hand: a
route added tomorrow, by any feature, is checked too.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from erp_api import create_app
from erp_api.tenancy import ACCESS_MARKER
from erp_api_testing.organizations import API, Caller, OrganizationsApi

MakeCaller = Callable[..., Awaitable[Caller]]
SCOPED = f"{API}/organizations/{{organization_id}}"


def scoped_routes(app: FastAPI) -> Iterator[tuple[str, str, APIRoute]]:
    """Every (method, path, route) of the application under ``SCOPED``, included routers flattened."""
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path or ""
        if isinstance(route, APIRoute) and (path == SCOPED or path.startswith(f"{SCOPED}/")):
            for method in sorted(context.methods or ()):
                yield method, path, route


def depends_on_access(dependant: Dependant) -> bool:
    return any(hasattr(sub.call, ACCESS_MARKER) or depends_on_access(sub) for sub in dependant.dependencies)


def test_the_walk_finds_the_organisation_routes(make_settings: Any) -> None:
    found = {(method, path) for method, path, _ in scoped_routes(create_app(make_settings()))}
    assert {
        ("GET", SCOPED),
        ("PATCH", SCOPED),
        ("DELETE", SCOPED),
        ("GET", f"{SCOPED}/members"),
        ("PATCH", f"{SCOPED}/members/{{user_id}}"),
        ("DELETE", f"{SCOPED}/members/{{user_id}}"),
        ("GET", f"{SCOPED}/invitations"),
        ("POST", f"{SCOPED}/invitations"),
        ("DELETE", f"{SCOPED}/invitations/{{invitation_id}}"),
        ("GET", f"{SCOPED}/audit-events"),
    } <= found


def test_every_scoped_route_depends_on_the_access_check(make_settings: Any) -> None:
    missing = [
        f"{method} {path}"
        for method, path, route in scoped_routes(create_app(make_settings()))
        if not depends_on_access(route.dependant)
    ]
    assert missing == []


async def test_a_non_member_gets_404_from_every_scoped_route(
    app: FastAPI, api: OrganizationsApi, make_caller: MakeCaller
) -> None:
    owner, stranger = await make_caller(), await make_caller()
    organization = await api.create_organization(owner)
    invitation = await api.invite(organization["id"], owner, "someone@example.org")
    known = {
        "organization_id": organization["id"],
        "user_id": str(owner.id),
        "invitation_id": invitation["id"],
    }
    routes = list(scoped_routes(app))
    assert routes
    for method, path, _ in routes:
        url = re.sub(r"\{(\w+)\}", lambda match: known.get(match[1], str(uuid.uuid4())), path)
        response = await api.client.request(
            method, url, json={}, headers={**stranger.headers, "If-Match": '"1"'}
        )
        assert response.status_code == 404, f"{method} {path}: {response.status_code}"
        assert organization["slug"] not in response.text
    read = await api.client.get(f"{API}/organizations/{organization['id']}", headers=owner.headers)
    assert read.json()["version"] == 1  # and nothing changed
