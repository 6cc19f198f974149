"""Races on purpose: several requests released at the same moment, for tests of concurrency rules.

``await race(lambda: client.patch(...), lambda: client.patch(...))`` starts
each call in a task of its own and lets them all go at once, from a barrier
that every task reaches first, so none has a head start of a whole request.
Use a committing client (each request on a pooled connection of its own,
committing for real): on the transactional ``client`` the requests share one
session and cannot race in the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def race(*calls: Callable[[], Awaitable[T]]) -> list[T]:
    """Run ``calls`` together, released at once; their results in the order given."""
    barrier = asyncio.Barrier(len(calls))

    async def released(call: Callable[[], Awaitable[T]]) -> T:
        await barrier.wait()
        return await call()

    return list(await asyncio.gather(*(released(call) for call in calls)))
