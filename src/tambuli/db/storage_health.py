"""What a process knows of its database's storage: lost (file deleted or replaced) or full.

A lost SQLite file is noticed by the checkpoint thread (wal_checkpoints.py), which compares the
file at the database's path with the one it opened. From then on this process refuses every
write (`server.storage`): the open connections would go on committing into an unlinked file
that no restart will ever see. That lasts until the process is restarted.

A full disk (SQLite's SQLITE_FULL, PostgreSQL's SQLSTATE 53100) is noticed where a statement
fails. Each refused write answers `server.storagefull`; the state ends at the next write that
commits. One log line marks the start and one the end (with how many writes were refused), so
a full disk does not write a traceback per request.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from tambuli.errors import StorageFull, StorageLost

log = logging.getLogger("tambuli.storage")
# PostgreSQL's disk_full condition.
POSTGRES_DISK_FULL = "53100"


def is_disk_full(error: BaseException | None) -> bool:
    """Whether a driver's error says the database's storage is full."""
    if isinstance(error, sqlite3.Error):
        return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return getattr(error, "sqlstate", None) == POSTGRES_DISK_FULL


class StorageHealth:
    """The storage state of one Database, shared by its event loop and its checkpoint thread."""

    def __init__(self, description: str) -> None:
        self._description = description
        self._lock = threading.Lock()
        self.lost_reason = ""
        self.full = False
        self.refused_while_full = 0

    def mark_lost(self, reason: str) -> None:
        """The database file is gone or replaced: refuse writes from now on (logged once)."""
        with self._lock:
            if self.lost_reason:
                return
            self.lost_reason = reason
        log.error("%s; refusing every write until this process is restarted", reason)

    def refuse_if_lost(self) -> None:
        """StorageLost when the file this process opened is no longer its database."""
        if self.lost_reason:
            raise StorageLost()

    def record_full(self) -> StorageFull:
        """A write failed for want of space: count it (log the start once); the error to raise."""
        self.refused_while_full += 1
        if not self.full:
            self.full = True
            log.error(
                "the storage of %s is full; refusing writes until there is room", self._description
            )
        return StorageFull()

    def record_write(self) -> None:
        """A write committed: a full disk has room again."""
        if self.full:
            log.warning(
                "the storage of %s has room again; %d writes were refused while it was full",
                self._description,
                self.refused_while_full,
            )
            self.full = False
            self.refused_while_full = 0

    def describe_problems(self) -> list[str]:
        """Why the database takes no writes now (empty when it does, as far as is known)."""
        problems = []
        if self.lost_reason:
            problems.append(self.lost_reason)
        if self.full:
            problems.append(f"the storage of {self._description} is full")
        return problems
