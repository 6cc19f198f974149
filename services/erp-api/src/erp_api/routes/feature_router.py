"""``FeatureRouter``: an ``APIRouter`` that declines, with one search, a path that none of its routes match.

FastAPI (0.16x) finds a request's route by walking every route of every
included router, twice (once to match, once to handle), so each feature
made every request of every other feature dearer: a customer's path walked
all of the organisations' routes first, since both start with
``/organizations``. A route matches a request only if the request's path
*ends* with something its own path pattern matches (the include prefix and
the root path only come before it); :meth:`FeatureRouter.matches` searches
the path once for any of its routes' patterns, anchored at the end, and
declines before FastAPI walks them when there is none. The routers of the
other features cost one search each, whatever their number of routes.

Hand-written because FastAPI offers no route index; the override is of the
router's public ``matches``, the patterns are Starlette's own
(``path_regex``), and a router with a route that has none (a router
included into it) is never filtered.
"""

from __future__ import annotations

import re

from fastapi import APIRouter
from starlette.routing import Match
from starlette.types import Scope

# Starlette names each parameter's group; one expression cannot repeat a name.
_NAMED_GROUP = re.compile(r"\(\?P<\w+>")


class FeatureRouter(APIRouter):
    """An ``APIRouter`` for a feature: use it as ``router = FeatureRouter(tags=[...])``."""

    _tails: re.Pattern[str] | None = None
    _indexed_routes: int = -1

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self._indexed_routes != len(self.routes):
            self._index()
        if self._tails is not None and self._tails.search(scope["path"]) is None:
            return Match.NONE, {}
        return super().matches(scope)

    def _index(self) -> None:
        """One expression for the ends of the paths the routes match; ``None`` if a route has no pattern."""
        patterns = [
            pattern
            for route in self.routes
            if isinstance(pattern := getattr(route, "path_regex", None), re.Pattern)
        ]
        self._tails = None
        if patterns and len(patterns) == len(self.routes):
            bodies = (
                _NAMED_GROUP.sub("(?:", p.pattern.removeprefix("^").removesuffix("$")) for p in patterns
            )
            self._tails = re.compile(f"(?:{'|'.join(bodies)})$")
        self._indexed_routes = len(self.routes)
