"""Group commit: concurrent small write transactions share one commit.

On this machine BEGIN and COMMIT were about a third of the event loop's time when creating
contacts one transaction each. Each job here runs in a savepoint of a shared transaction, so it
succeeds or fails on its own, while the batch pays for one BEGIN and one COMMIT. An idle
process writes a batch of one at once; under load, the batch is whatever arrived while the
previous one was being written, so batching adds no waiting of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.engine import Database
from tambuli.errors import ServiceUnavailable

log = logging.getLogger("tambuli.db")
T = TypeVar("T")
Job = Callable[[AsyncConnection], Awaitable[Any]]


@dataclass
class _Waiting:
    job: Job
    answer: asyncio.Future[Any]


class GroupCommit:
    """Runs write jobs in shared transactions; one per process and database."""

    def __init__(self, db: Database, max_batch: int = 100) -> None:
        self._db = db
        self._max_batch = max_batch
        self._waiting: list[_Waiting] = []
        self._drain: asyncio.Task[None] | None = None

    async def run(self, job: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `job` inside a savepoint of a shared write transaction; its result once committed.

        The job's own exception reaches only its caller (its savepoint is rolled back); a failed
        commit reaches every job of the batch.
        """
        self._db.refuse_nested_wait()
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(job, answer))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._drain_waiting())
        result: T = await answer
        return result

    async def _drain_waiting(self) -> None:
        while self._waiting:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            outcomes: list[tuple[bool, Any]] = []
            try:
                async with self._db.write() as conn:
                    for waiting in batch:
                        outcomes.append(await _run_in_savepoint(conn, waiting.job))
            except Exception as exc:  # the commit (or the database) failed: every job failed
                if not isinstance(exc, ServiceUnavailable):  # a known state, logged where it began
                    log.exception("a group commit of %d jobs failed", len(batch))
                outcomes = [(False, exc)] * len(batch)
            for waiting, (succeeded, value) in zip(batch, outcomes, strict=True):
                if waiting.answer.done():  # its caller was cancelled meanwhile
                    continue
                if succeeded:
                    waiting.answer.set_result(value)
                else:
                    waiting.answer.set_exception(self._db.translate_storage_error(value))


async def _run_in_savepoint(conn: AsyncConnection, job: Job) -> tuple[bool, Any]:
    try:
        async with conn.begin_nested():
            return True, await job(conn)
    except Exception as exc:  # belongs to this job's caller alone, like its own transaction's
        return False, exc
