"""FeatureRouter declines, with one search, a path that none of its routes can match."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import Match

from erp_api.routes.feature_router import FeatureRouter
from erp_api_testing import serve_in_process


def scope(path: str) -> dict[str, object]:
    return {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}


def test_a_path_no_route_can_end_is_declined_before_any_route_is_tried() -> None:
    router = FeatureRouter()
    tried: list[str] = []

    @router.get("/things/{thing_id}")
    async def read_thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    original = router.routes[0].matches

    def counting(scope: dict[str, object]) -> tuple[Match, dict[str, object]]:
        tried.append(str(scope["path"]))
        return original(scope)

    router.routes[0].matches = counting  # type: ignore[method-assign]

    assert router.matches(scope("/api/v1/organizations/1/customers")) == (Match.NONE, {})
    assert tried == []


def test_a_path_with_the_routers_first_segment_but_another_shape_is_declined() -> None:
    router = FeatureRouter()

    @router.get("/organizations/{organization_id}")
    async def read(organization_id: str) -> None: ...

    @router.get("/organizations/{organization_id}/members/{user_id}")
    async def member(organization_id: str, user_id: str) -> None: ...

    assert router.matches(scope("/api/v1/organizations/1/customers/2")) == (Match.NONE, {})
    assert router.matches(scope("/api/v1/organizations/1/members"))[0] == Match.NONE
    assert router._tails is not None


def test_a_router_with_a_route_without_a_path_pattern_is_never_filtered() -> None:
    router, inner = FeatureRouter(), FeatureRouter()

    @inner.get("/{anything}")
    async def catch_all(anything: str) -> None: ...

    router.include_router(inner, prefix="/files")
    router.matches(scope("/whatever"))
    assert router._tails is None


async def test_every_route_of_feature_routers_is_still_reached() -> None:
    first, second = FeatureRouter(), FeatureRouter()

    @first.get("/alpha/{item}")
    async def alpha(item: str) -> dict[str, str]:
        return {"router": "first", "item": item}

    @second.get("/beta/{item}/alpha")
    async def beta(item: str) -> dict[str, str]:
        return {"router": "second", "item": item}

    @second.get("/files/{name:path}")
    async def file(name: str) -> dict[str, str]:
        return {"router": "second", "item": name}

    app = FastAPI()
    app.include_router(first, prefix="/api/v1")
    app.include_router(second, prefix="/api/v1")
    async with serve_in_process(app) as client:
        answers = [
            (await client.get("/api/v1/alpha/1")).json(),
            (await client.get("/api/v1/beta/2/alpha")).json(),
            (await client.get("/api/v1/files/a/b.txt")).json(),
            (await client.get("/api/v1/gamma/3")).status_code,
            (await client.post("/api/v1/alpha/1")).status_code,
        ]

    assert answers == [
        {"router": "first", "item": "1"},
        {"router": "second", "item": "2"},
        {"router": "second", "item": "a/b.txt"},
        404,
        405,
    ]
