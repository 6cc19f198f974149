"""FeatureRouter declines, in one lookup, a path that none of its routes can match."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import Match

from erp_api.routes.feature_router import FeatureRouter
from erp_api_testing import serve_in_process


def scope(path: str) -> dict[str, object]:
    return {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}


def test_a_path_without_the_routers_first_segments_is_declined_before_any_route_is_tried() -> None:
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


def test_a_router_with_a_route_that_starts_with_a_parameter_is_never_filtered() -> None:
    router = FeatureRouter()

    @router.get("/{anything}")
    async def catch_all(anything: str) -> None: ...

    router.matches(scope("/whatever"))
    assert router._first_segments is None


async def test_every_route_of_feature_routers_is_still_reached() -> None:
    first, second = FeatureRouter(), FeatureRouter()

    @first.get("/alpha/{item}")
    async def alpha(item: str) -> dict[str, str]:
        return {"router": "first", "item": item}

    @second.get("/beta/{item}/alpha")
    async def beta(item: str) -> dict[str, str]:
        return {"router": "second", "item": item}

    app = FastAPI()
    app.include_router(first, prefix="/api/v1")
    app.include_router(second, prefix="/api/v1")
    async with serve_in_process(app) as client:
        answers = [
            (await client.get("/api/v1/alpha/1")).json(),
            (await client.get("/api/v1/beta/2/alpha")).json(),
            (await client.get("/api/v1/gamma/3")).status_code,
        ]

    assert answers == [{"router": "first", "item": "1"}, {"router": "second", "item": "2"}, 404]
