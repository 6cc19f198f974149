"""Organisations: create, list, read with ETag, merge-patch with If-Match, archive (docs/contract.md §10)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from erp_api_testing.organizations import API, Caller, OrganizationsApi

MakeCaller = Callable[..., Awaitable[Caller]]

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


async def test_create_answers_201_with_location_etag_and_the_owner_role(
    client: httpx.AsyncClient, make_caller: MakeCaller
) -> None:
    owner = await make_caller()
    slug = f"acme-{uuid.uuid4().hex[:8]}"
    response = await client.post(
        f"{API}/organizations", json={"name": "Acme", "slug": slug}, headers=owner.headers
    )
    assert response.status_code == 201
    body = response.json()
    assert body["slug"] == slug
    assert body["name"] == "Acme"
    assert body["role"] == "owner"
    assert body["version"] == 1
    assert body["archived_at"] is None
    assert response.headers["ETag"] == '"1"'
    # A path: never built from the Host header, which the client chooses.
    assert response.headers["Location"] == f"{API}/organizations/{body['id']}"
    read = await client.get(response.headers["Location"], headers=owner.headers)
    assert read.status_code == 200
    assert read.json() == body


async def test_a_taken_slug_is_409_pointing_at_the_slug(
    api: OrganizationsApi, make_caller: MakeCaller
) -> None:
    first, second = await make_caller(), await make_caller()
    taken = await api.create_organization(first)
    response = await api.client.post(
        f"{API}/organizations", json={"name": "Other", "slug": taken["slug"]}, headers=second.headers
    )
    assert response.status_code == 409
    assert response.headers["Content-Type"] == "application/problem+json"
    assert [error["loc"] for error in response.json()["errors"]] == [["body", "slug"]]


@pytest.mark.parametrize(
    "body",
    [
        {"name": " Acme", "slug": "acme"},
        {"name": "Acme\n", "slug": "acme"},
        {"name": "", "slug": "acme"},
        {"name": "x" * 201, "slug": "acme"},
        {"name": "Acme", "slug": "acme\n"},
        {"name": "Acme", "slug": "Acme"},
        {"name": "Acme", "slug": "-acme"},
        {"name": "Acme", "slug": "acme-"},
        {"name": "Acme", "slug": "a" * 64},
        {"name": "Acme", "slug": "acme", "extra": 1},
    ],
)
async def test_names_and_slugs_are_validated_as_sent(
    client: httpx.AsyncClient, make_caller: MakeCaller, body: dict[str, object]
) -> None:
    owner = await make_caller()
    response = await client.post(f"{API}/organizations", json=body, headers=owner.headers)
    assert response.status_code == 422


async def test_list_shows_the_callers_organisations_oldest_first_with_their_role(
    committing_api: OrganizationsApi, make_committed_caller: MakeCaller
) -> None:
    # Committed, request by request: an order in time needs transactions of their own.
    api = committing_api
    me, other = await make_committed_caller(), await make_committed_caller()
    mine = [await api.create_organization(me) for _ in range(3)]
    theirs = await api.create_organization(other)
    await api.add_member(theirs["id"], other, me, "admin")
    response = await api.client.get(f"{API}/organizations", headers=me.headers)
    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["items"]] == [item["id"] for item in mine] + [theirs["id"]]
    assert [item["role"] for item in body["items"]] == ["owner", "owner", "owner", "admin"]
    assert body["next_cursor"] is None


async def test_list_pages_with_an_opaque_cursor(
    committing_api: OrganizationsApi, make_committed_caller: MakeCaller
) -> None:
    # Committed, request by request: an order in time needs transactions of their own.
    api = committing_api
    me = await make_committed_caller()
    created = [(await api.create_organization(me))["id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.client.get(f"{API}/organizations", params=params, headers=me.headers)).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == created


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"cursor": "nope"}, {"cursor": "x" * 300}])
async def test_bad_paging_parameters_are_422(
    client: httpx.AsyncClient, make_caller: MakeCaller, params: dict[str, object]
) -> None:
    me = await make_caller()
    response = await client.get(f"{API}/organizations", params=params, headers=me.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][:2] == ["query", next(iter(params))]


async def test_if_none_match_with_the_current_tag_is_304_without_a_body(
    api: OrganizationsApi, make_caller: MakeCaller
) -> None:
    owner = await make_caller()
    organization = await api.create_organization(owner)
    url = f"{API}/organizations/{organization['id']}"
    read = await api.client.get(url, headers=owner.headers)
    assert read.headers["ETag"] == '"1"'
    cached = await api.client.get(url, headers={**owner.headers, "If-None-Match": '"1"'})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["ETag"] == '"1"'
    stale = await api.client.get(url, headers={**owner.headers, "If-None-Match": '"0"'})
    assert stale.status_code == 200


async def test_patch_is_a_merge_patch_that_needs_the_current_etag(
    api: OrganizationsApi, make_caller: MakeCaller
) -> None:
    owner = await make_caller()
    organization = await api.create_organization(owner)
    url = f"{API}/organizations/{organization['id']}"

    missing = await api.client.patch(url, json={"name": "New"}, headers={**owner.headers, **MERGE_PATCH})
    assert missing.status_code == 428

    changed = await api.client.patch(
        url, json={"name": "New"}, headers={**owner.headers, **MERGE_PATCH, "If-Match": '"1"'}
    )
    assert changed.status_code == 200
    assert changed.headers["ETag"] == '"2"'
    assert changed.json()["name"] == "New"
    assert changed.json()["slug"] == organization["slug"]  # absent from the patch: kept
    assert changed.json()["version"] == 2

    stale = await api.client.patch(url, json={"name": "Newer"}, headers={**owner.headers, "If-Match": '"1"'})
    assert stale.status_code == 412
    assert (await api.client.get(url, headers=owner.headers)).json()["name"] == "New"  # nothing changed


@pytest.mark.parametrize(
    "body", [{"name": None}, {"slug": None}, {"name": " padded"}, {"slug": "Bad"}, {"id": "x"}]
)
async def test_a_patch_that_removes_or_mangles_a_field_is_422(
    api: OrganizationsApi, make_caller: MakeCaller, body: dict[str, object]
) -> None:
    owner = await make_caller()
    organization = await api.create_organization(owner)
    response = await api.client.patch(
        f"{API}/organizations/{organization['id']}", json=body, headers={**owner.headers, "If-Match": '"1"'}
    )
    assert response.status_code == 422


async def test_patching_to_a_taken_slug_is_409_pointing_at_the_slug(
    api: OrganizationsApi, make_caller: MakeCaller
) -> None:
    owner = await make_caller()
    taken, mine = await api.create_organization(owner), await api.create_organization(owner)
    response = await api.client.patch(
        f"{API}/organizations/{mine['id']}",
        json={"slug": taken["slug"]},
        headers={**owner.headers, "If-Match": '"1"'},
    )
    assert response.status_code == 409
    assert [error["loc"] for error in response.json()["errors"]] == [["body", "slug"]]


async def test_an_empty_patch_changes_nothing(api: OrganizationsApi, make_caller: MakeCaller) -> None:
    owner = await make_caller()
    organization = await api.create_organization(owner)
    response = await api.client.patch(
        f"{API}/organizations/{organization['id']}", json={}, headers={**owner.headers, "If-Match": '"1"'}
    )
    assert response.status_code == 200
    assert response.json()["version"] == 1


async def test_archiving_is_idempotent_and_an_archived_organisation_reads_but_refuses_changes(
    api: OrganizationsApi, make_caller: MakeCaller
) -> None:
    owner = await make_caller()
    organization = await api.create_organization(owner)
    url = f"{API}/organizations/{organization['id']}"
    assert (await api.client.delete(url, headers=owner.headers)).status_code == 204
    assert (await api.client.delete(url, headers=owner.headers)).status_code == 204

    read = await api.client.get(url, headers=owner.headers)
    assert read.status_code == 200
    assert read.json()["archived_at"] is not None
    assert read.json()["version"] == 2  # archiving was one change; the second was none

    patch = await api.client.patch(url, json={"name": "X"}, headers={**owner.headers, "If-Match": '"2"'})
    assert patch.status_code == 409

    listed = (await api.client.get(f"{API}/organizations", headers=owner.headers)).json()["items"]
    assert organization["id"] not in [item["id"] for item in listed]
    with_archived = await api.client.get(f"{API}/organizations?include_archived=true", headers=owner.headers)
    assert organization["id"] in [item["id"] for item in with_archived.json()["items"]]


async def test_changes_need_their_role(api: OrganizationsApi, make_caller: MakeCaller) -> None:
    owner, admin, member = await make_caller(), await make_caller(), await make_caller()
    organization = await api.create_organization(owner)
    await api.add_member(organization["id"], owner, admin, "admin")
    await api.add_member(organization["id"], owner, member, "member")
    url = f"{API}/organizations/{organization['id']}"

    assert (await api.client.get(url, headers=member.headers)).json()["role"] == "member"
    as_member = await api.client.patch(url, json={"name": "X"}, headers={**member.headers, "If-Match": '"1"'})
    assert as_member.status_code == 403
    as_admin = await api.client.patch(url, json={"name": "X"}, headers={**admin.headers, "If-Match": '"1"'})
    assert as_admin.status_code == 200
    assert (await api.client.delete(url, headers=admin.headers)).status_code == 403
    assert (await api.client.delete(url, headers=owner.headers)).status_code == 204


async def test_pages_neither_repeat_nor_skip_rows_while_rows_come_and_go(
    committing_api: OrganizationsApi, make_committed_caller: MakeCaller
) -> None:
    # Committed, request by request: an order in time needs transactions of their own.
    api = committing_api
    me = await make_committed_caller()
    before = [(await api.create_organization(me))["id"] for _ in range(6)]

    async def page(cursor: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await api.client.get(f"{API}/organizations", params=params, headers=me.headers)
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    first = await page(None)
    seen = [item["id"] for item in first["items"]]
    # Meanwhile: one organisation already shown goes (archived), two new ones come.
    assert (await api.client.delete(f"{API}/organizations/{seen[0]}", headers=me.headers)).status_code == 204
    after = [(await api.create_organization(me))["id"] for _ in range(2)]
    cursor = first["next_cursor"]
    while cursor is not None:
        body = await page(cursor)
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
    assert seen == before + after


async def test_a_nul_character_in_a_name_is_422_not_500(
    api: OrganizationsApi, make_caller: MakeCaller
) -> None:
    owner = await make_caller()
    organization = await api.create_organization(owner)

    created = await api.client.post(
        f"{API}/organizations", json={"name": "a\u0000b", "slug": "nul-name"}, headers=owner.headers
    )
    patched = await api.client.patch(
        f"{API}/organizations/{organization['id']}",
        json={"name": "a\u0000b"},
        headers={**owner.headers, "If-Match": '"1"'},
    )

    for response in (created, patched):
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "name"]


async def test_location_is_a_path_whatever_the_host_header_says(
    api: OrganizationsApi, make_caller: MakeCaller
) -> None:
    owner = await make_caller()
    response = await api.client.post(
        f"{API}/organizations",
        json={"name": "Acme", "slug": f"acme-{uuid.uuid4().hex[:8]}"},
        headers={**owner.headers, "Host": "evil.example"},
    )

    assert response.status_code == 201
    assert response.headers["Location"] == f"{API}/organizations/{response.json()['id']}"
