"""A short-lived cache of verified (token, organization) pairs."""

from __future__ import annotations

import time

from tambuli.coalescing import SharedLoads
from tambuli.organizations.models import Principal

MAX_CACHED = 10_000


class TokenCache:
    """Remembers (token hash, org) pairs that passed, for a few seconds.

    Revoking a token or a membership therefore takes effect within that many seconds; the
    cache spares the database one read per request on the hot paths.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int], tuple[float, Principal]] = {}
        # Requests that find the same entry missing share one check of it.
        self.checks: SharedLoads[tuple[str, int], Principal] = SharedLoads()

    def get(self, key: tuple[str, int]) -> Principal | None:
        """A cached principal that has not expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: tuple[str, int], principal: Principal, ttl: float) -> None:
        """Remember a principal for ttl seconds."""
        if ttl <= 0:
            return
        if len(self._entries) >= MAX_CACHED:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + ttl, principal)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
