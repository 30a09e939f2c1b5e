"""Concurrent callers that need the same slow value share one load of it.

The caches of the hot paths (prices, organization profiles, API tokens) expire every few seconds.
Without this, every request in flight at that moment found the entry stale and read the
database itself: dozens of identical reads at each expiry under load.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedLoads(Generic[K, V]):
    """At most one load per key in flight; callers that come meanwhile await the same one."""

    def __init__(self) -> None:
        self._loading: dict[K, asyncio.Task[V]] = {}

    async def load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The value `load` gives for key, from a load already in flight when there is one.

        A caller cancelled while waiting does not cancel the load the others wait for; a
        failed load fails every caller waiting on it, and the next caller tries again.
        """
        task = self._loading.get(key)
        if task is None:
            task = asyncio.ensure_future(load())
            self._loading[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(task)

    def _forget(self, key: K, task: asyncio.Task[V]) -> None:
        if self._loading.get(key) is task:
            del self._loading[key]
        if not task.cancelled():
            # Retrieved here so a failure nobody awaited any more is not reported as lost.
            task.exception()
