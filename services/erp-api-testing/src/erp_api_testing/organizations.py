"""Test helpers for code built on the organisations feature: callers and organisations set up through the API.

Later features' tests need "an organisation that this user owns, with these
members" before they test anything of their own; :class:`OrganizationsApi`
builds it the way a client would (invitations included), so the set-up
exercises the real routes and nothing bypasses their rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

API = "/api/v1"


@dataclass(frozen=True)
class Caller:
    """A user of the API: who they are and the headers that sign their requests in."""

    id: uuid.UUID
    email: str
    headers: dict[str, str]


class OrganizationsApi:
    """The organisation routes, called as a client would, for tests that need a few steps of set-up."""

    def __init__(self, client: httpx.AsyncClient, prefix: str = API) -> None:
        self.client = client
        self.prefix = prefix

    async def create_organization(self, owner: Caller, **body: Any) -> dict[str, Any]:
        """A new organisation owned by ``owner`` (a unique slug unless given); its answer body."""
        body = {"name": "Acme", "slug": f"org-{uuid.uuid4().hex[:12]}", **body}
        response = await self.client.post(f"{self.prefix}/organizations", json=body, headers=owner.headers)
        assert response.status_code == 201, response.text
        organization: dict[str, Any] = response.json()
        return organization

    async def invite(
        self, organization_id: str, admin: Caller, email: str, role: str = "member"
    ) -> dict[str, Any]:
        """A new invitation, as its one answer that shows the token."""
        response = await self.client.post(
            f"{self.prefix}/organizations/{organization_id}/invitations",
            json={"email": email, "role": role},
            headers=admin.headers,
        )
        assert response.status_code == 201, response.text
        invitation: dict[str, Any] = response.json()
        return invitation

    async def add_member(
        self, organization_id: str, admin: Caller, member: Caller, role: str = "member"
    ) -> None:
        """Invite ``member`` with ``role`` and accept for them: the only way in, as for a real user."""
        invitation = await self.invite(organization_id, admin, member.email, role)
        accepted = await self.client.post(
            f"{self.prefix}/invitations/accept", json={"token": invitation["token"]}, headers=member.headers
        )
        assert accepted.status_code == 200, accepted.text


@dataclass(frozen=True)
class Team:
    """An organisation with one caller of each role, and an outsider who belongs to none of it."""

    organization: dict[str, Any]
    owner: Caller
    admin: Caller
    member: Caller
    outsider: Caller

    @property
    def id(self) -> str:
        organization_id: str = self.organization["id"]
        return organization_id

    def url(self, path: str = "", prefix: str = API) -> str:
        """``{prefix}/organizations/{id}{path}``: ``team.url("/customers")``."""
        return f"{prefix}/organizations/{self.id}{path}"

    def caller(self, role: str) -> Caller:
        """The caller of ``role`` (``owner``, ``admin``, ``member``), or ``outsider``."""
        return {"owner": self.owner, "admin": self.admin, "member": self.member, "outsider": self.outsider}[
            role
        ]


async def make_team(api: OrganizationsApi, make_caller: Callable[..., Awaitable[Caller]]) -> Team:
    """A new organisation owned by a new caller, an admin and a member invited into it, and an outsider."""
    owner, admin, member, outsider = [await make_caller() for _ in range(4)]
    organization = await api.create_organization(owner)
    await api.add_member(organization["id"], owner, admin, "admin")
    await api.add_member(organization["id"], owner, member, "member")
    return Team(organization, owner, admin, member, outsider)
