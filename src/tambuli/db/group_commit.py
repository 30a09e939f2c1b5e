"""Group commit: concurrent small write transactions share one commit.

On this machine BEGIN and COMMIT were about a third of the event loop's time when creating
contacts one transaction each. A job here is a draft of the batched intake (batch_intake.py):
the batch is whatever arrived while the previous one was being written, and each job runs in a
savepoint of the batch's transaction, so it succeeds or fails on its own while the batch pays for
one BEGIN and one COMMIT.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.batch_intake import BatchIntake
from tambuli.db.engine import Database
from tambuli.errors import TambuliError

T = TypeVar("T")
Job = Callable[[AsyncConnection], Awaitable[Any]]


class GroupCommit(BatchIntake[Job, Any]):
    """Runs write jobs in shared transactions; one per process and database."""

    def __init__(self, db: Database, max_batch: int = 100, max_waiting: int = 5000) -> None:
        super().__init__(db, max_batch, max_waiting)

    async def run(self, job: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `job` inside a savepoint of a shared write transaction; its result once committed.

        The job's own exception reaches only its caller (its savepoint is rolled back); a failed
        commit reaches every job of the batch; Overloaded (429) when too many jobs wait.
        """
        result: T = await self.submit(job)
        return result

    async def write_batch(self, conn: AsyncConnection, drafts: list[Job]) -> list[Any]:
        """Run each job in a savepoint of the caller's transaction; its result or exception."""
        return [await _run_in_savepoint(conn, job) for job in drafts]

    async def find_duplicate(self, draft: Job) -> TambuliError:
        """Never needed: a job's unique-key conflict stays inside its own savepoint."""
        raise RuntimeError("a group commit's batch met a conflict outside every savepoint")


async def _run_in_savepoint(conn: AsyncConnection, job: Job) -> Any:
    try:
        async with conn.begin_nested():
            return await job(conn)
    except Exception as exc:  # belongs to this job's caller alone, like its own transaction's
        return exc
