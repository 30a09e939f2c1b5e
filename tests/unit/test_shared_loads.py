"""Concurrent callers of one key share one load; failures and cancellations stay contained."""

from __future__ import annotations

import asyncio

import pytest

from tambuli.coalescing import SharedLoads


class CountedLoad:
    """A load that waits for a gate and counts how often it ran."""

    def __init__(self, value: str = "loaded") -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.value = value
        self.error: Exception | None = None

    async def __call__(self) -> str:
        self.calls += 1
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return self.value


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_callers_of_one_key_meanwhile_share_one_load() -> None:
    loads: SharedLoads[str, str] = SharedLoads()
    load = CountedLoad()
    callers = [asyncio.ensure_future(loads.load("prices", load)) for _ in range(20)]
    await settle()
    load.gate.set()
    assert await asyncio.gather(*callers) == ["loaded"] * 20
    assert load.calls == 1


async def test_a_caller_after_the_load_finished_loads_again() -> None:
    loads: SharedLoads[str, str] = SharedLoads()
    load = CountedLoad()
    load.gate.set()
    assert await loads.load("prices", load) == "loaded"
    assert await loads.load("prices", load) == "loaded"
    assert load.calls == 2


async def test_different_keys_load_separately() -> None:
    loads: SharedLoads[int, str] = SharedLoads()
    first, second = CountedLoad("one"), CountedLoad("two")
    callers = [
        asyncio.ensure_future(loads.load(1, first)),
        asyncio.ensure_future(loads.load(2, second)),
    ]
    await settle()
    first.gate.set()
    second.gate.set()
    assert await asyncio.gather(*callers) == ["one", "two"]
    assert (first.calls, second.calls) == (1, 1)


async def test_a_failed_load_fails_its_waiters_and_the_next_caller_tries_again() -> None:
    loads: SharedLoads[str, str] = SharedLoads()
    load = CountedLoad()
    load.error = RuntimeError("database away")
    callers = [asyncio.ensure_future(loads.load("prices", load)) for _ in range(3)]
    await settle()
    load.gate.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    load.error = None
    assert await loads.load("prices", load) == "loaded"
    assert load.calls == 2


async def test_a_cancelled_caller_leaves_the_load_to_the_others() -> None:
    loads: SharedLoads[str, str] = SharedLoads()
    load = CountedLoad()
    leaving = asyncio.ensure_future(loads.load("prices", load))
    staying = asyncio.ensure_future(loads.load("prices", load))
    await settle()
    leaving.cancel()
    await settle()
    load.gate.set()
    assert await staying == "loaded"
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert load.calls == 1
