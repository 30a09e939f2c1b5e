"""Batched intake: concurrent requests that each store one new row share one transaction.

Each request prepares its draft on its own, then waits here. One drain task writes whatever has
gathered in a single transaction through the subclass's `write_batch`, and starts the next batch
as soon as the previous one is committed. An idle server writes a batch of one at once; under
load, a batch is whatever arrived while the previous one was being written, so batches grow with
the load and nothing waits for company that is not coming. When more drafts wait than a batch
loop can take, new ones are refused with Overloaded (429) instead of queueing without bound.

A unique key taken meanwhile by another process (IntegrityError) makes the batch be written
again one draft at a time, so only the duplicate fails, with what `find_duplicate` answers. So
does a TambuliError that `write_batch` raises instead of returning it for one draft (a refusal
it found only after writing that draft's rows): rolled back, the batch is written again draft
by draft and only that draft is refused.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.engine import Database
from tambuli.errors import Overloaded, ServiceUnavailable, TambuliError

log = logging.getLogger("tambuli.db")
D = TypeVar("D")
R = TypeVar("R")


@dataclass
class _Waiting(Generic[D, R]):
    draft: D
    answer: asyncio.Future[R]


class BatchIntake(ABC, Generic[D, R]):
    """Writes drafts in batches; one per process and kind, shared by every request."""

    def __init__(self, db: Database, max_batch: int = 200, max_waiting: int = 5000) -> None:
        self._db = db
        self._max_batch = max_batch
        self._max_waiting = max_waiting
        self._waiting: list[_Waiting[D, R]] = []
        self._drain: asyncio.Task[None] | None = None

    @abstractmethod
    async def write_batch(self, conn: AsyncConnection, drafts: list[D]) -> Sequence[R | Exception]:
        """Write drafts in the caller's transaction; per draft, what it became or why not (an
        exception that reaches that draft's caller alone)."""

    @abstractmethod
    async def find_duplicate(self, draft: D) -> TambuliError:
        """The error for a draft whose unique key another process took first."""

    async def submit(self, draft: D) -> R:
        """Write one draft (with whatever else is waiting); what it became, or its error."""
        self._db.refuse_nested_wait()
        if len(self._waiting) >= self._max_waiting:
            raise Overloaded()
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(draft, answer))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._drain_waiting())
        return await answer

    async def _drain_waiting(self) -> None:
        while self._waiting:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            try:
                await self._write(batch)
            except Exception as exc:  # a database fault must reach every waiting request
                if not isinstance(exc, ServiceUnavailable):  # a known state, logged where it began
                    log.exception("writing a batch of %d rows failed", len(batch))
                for waiting in batch:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(exc)

    async def _write(self, batch: list[_Waiting[D, R]]) -> None:
        drafts = [w.draft for w in batch]
        outcomes: Sequence[R | Exception]
        try:
            async with self._db.write() as conn:
                outcomes = await self.write_batch(conn, drafts)
        except (IntegrityError, TambuliError) as exc:
            # The server's own state fails every draft alike; writing them one by one would
            # only multiply the work.
            if isinstance(exc, ServiceUnavailable | Overloaded):
                raise
            if len(batch) > 1:
                for waiting in batch:
                    await self._write([waiting])
                return
            outcomes = [
                await self.find_duplicate(drafts[0]) if isinstance(exc, IntegrityError) else exc
            ]
        for waiting, outcome in zip(batch, outcomes, strict=True):
            # A request cancelled meanwhile (client gone) must not spoil its batch-mates' answers.
            if waiting.answer.done():
                continue
            if isinstance(outcome, Exception):
                waiting.answer.set_exception(self._db.translate_storage_error(outcome))
            else:
                waiting.answer.set_result(outcome)
