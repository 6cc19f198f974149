"""The coalescing rule: requests share a check only if it started after they arrived."""

import asyncio

from erp_api.readiness import CoalescedCheck


async def test_concurrent_callers_share_one_run_started_after_they_arrived():
    runs: list[int] = []
    release = asyncio.Event()

    async def check() -> int:
        runs.append(len(runs) + 1)
        run = len(runs)
        await release.wait()
        return run

    coalesced = CoalescedCheck(check)
    first = asyncio.create_task(coalesced(timeout=5))
    await asyncio.sleep(0)
    late = [asyncio.create_task(coalesced(timeout=5)) for _ in range(10)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(first, *late)

    assert results[0] == 1  # the run that started at its call
    assert set(results[1:]) == {2}  # late callers waited for one fresh run, all the same one
    assert runs == [1, 2]


async def test_a_state_change_between_overlapping_calls_is_seen_by_the_later_call():
    state = {"database": "at head"}
    read = asyncio.Event()
    release = asyncio.Event()

    async def check() -> str:
        observed = state["database"]  # the probe's one round trip
        read.set()
        await release.wait()  # the answer is still on its way back
        return observed

    coalesced = CoalescedCheck(check)
    first = asyncio.create_task(coalesced(timeout=5))
    await read.wait()
    state["database"] = "behind head"  # flips while the first check is in flight
    second = asyncio.create_task(coalesced(timeout=5))
    await asyncio.sleep(0)
    release.set()

    assert await first == "at head"
    assert await second == "behind head"


async def test_a_caller_gives_up_at_its_own_timeout_and_the_next_caller_is_served():
    calls = 0

    async def check() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(0.2)
        return calls

    coalesced = CoalescedCheck(check)
    assert await coalesced(timeout=0.05) is None
    assert await coalesced(timeout=1) == 2
