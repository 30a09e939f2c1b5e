"""Joins the parts of concatenated inbound SMS, for every channel; pure: the caller passes the time.

Parts wait in this process only, so a part still waiting when the process stops is lost. Nothing
else is dropped: a message still missing parts after `patience`, or pushed out because `limit`
messages are pending, is returned by the next `expire` with the parts it has.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

# What names one message's parts (sender, recipient, reference and what else the channel has).
Key = TypeVar("Key", bound=Hashable)
# One part: its text, or the channel's whole record of it; `join` makes one of several.
Part = TypeVar("Part")

DEFAULT_PATIENCE = timedelta(minutes=10)
DEFAULT_LIMIT = 10_000


@dataclass(slots=True)
class _Assembly(Generic[Part]):
    started_at: datetime
    total: int
    parts: dict[int, Part] = field(default_factory=dict)

    def ordered(self) -> list[Part]:
        return [self.parts[seq] for seq in sorted(self.parts)]


class InboundAssembler(Generic[Key, Part]):
    """Parts of inbound messages waiting for their siblings, joined once all have come."""

    def __init__(
        self,
        join: Callable[[list[Part]], Part],
        patience: timedelta = DEFAULT_PATIENCE,
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._join = join
        self._patience = patience
        self._limit = limit
        # Insertion order is arrival order, so the first key is the oldest message.
        self._pending: dict[Key, _Assembly[Part]] = {}
        # Recently completed messages, so a part the sender delivers again is not a new message.
        self._completed: dict[Key, _Assembly[Part]] = {}
        self._flushed: list[tuple[Key, Part]] = []

    @property
    def pending_count(self) -> int:
        """How many messages are waiting for parts."""
        return len(self._pending)

    def add(self, key: Key, total: int, seq: int, part: Part, now: datetime) -> Part | None:
        """The whole message once its last missing part arrives, else None."""
        if total <= 1 or not 1 <= seq <= total:
            return part  # not a usable part number: the part stands alone rather than wait
        done = self._completed.get(key)
        if done is not None and done.total == total and done.parts.get(seq) == part:
            return None
        assembly = self._pending.get(key)
        if assembly is not None and assembly.total != total:
            # The reference came round again for another message: hand on what the first had.
            self._flush(key)
            assembly = None
        if assembly is None:
            if len(self._pending) >= self._limit:
                self._flush(next(iter(self._pending)))
            assembly = self._pending[key] = _Assembly(now, total)
        assembly.parts.setdefault(seq, part)
        if len(assembly.parts) < total:
            return None
        del self._pending[key]
        self._remember_completed(key, assembly)
        return self._join(assembly.ordered())

    def expire(self, now: datetime) -> list[tuple[Key, Part]]:
        """Partial messages older than `patience` or pushed out by `limit`, joined as they are."""
        for key in [k for k, a in self._pending.items() if now - a.started_at >= self._patience]:
            self._flush(key)
        for key in [k for k, a in self._completed.items() if now - a.started_at >= self._patience]:
            del self._completed[key]
        flushed, self._flushed = self._flushed, []
        return flushed

    def _flush(self, key: Key) -> None:
        self._flushed.append((key, self._join(self._pending.pop(key).ordered())))

    def _remember_completed(self, key: Key, assembly: _Assembly[Part]) -> None:
        self._completed.pop(key, None)
        if len(self._completed) >= self._limit:
            del self._completed[next(iter(self._completed))]
        self._completed[key] = assembly
