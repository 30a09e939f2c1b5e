"""SQLite's write-ahead log copied into the database file by a thread of its own.

By default SQLite checkpoints inside the commit that fills the log past 1,000 pages. Here
that commit runs on the event loop (sqlite_inline.py), and a checkpoint copies about 4 MB and
syncs the file: 10-20 ms in which no request, delivery or receipt moves, dozens of times a
minute under load. A long-running process therefore raises its connections' automatic
threshold far out of the way (`AUTOCHECKPOINT_PAGES`, still a bound should this thread ever
fall behind) and checkpoints from this thread, on a connection of its own. The sqlite3 module
releases the GIL while SQLite works, so the copy and the sync overlap the loop's work.

PASSIVE checkpoints never wait for readers or writers: they copy what no reader still needs,
and a writer keeps appending meanwhile. Durability does not change: a commit is in the log
before it is acknowledged, whether or not it has been copied yet.

Each checkpoint also compares the file at the path with the one first opened (device and
inode): a database deleted or replaced under a running process is told to `on_lost` (at most
every interval, for the price of one stat call), because the open connections would otherwise
go on committing into a file no one will see again.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from urllib.parse import quote

from tambuli.records import frozen_record

# The automatic threshold while this thread checkpoints (pages of 4 KiB: about 160 MB).
AUTOCHECKPOINT_PAGES = 40_000
# Real seconds between checkpoints; at 2,000 messages/s the log grows by about 1,000 pages
# in that time.
CHECKPOINT_INTERVAL_SECONDS = 0.5

logger = logging.getLogger(__name__)


@frozen_record
class Checkpoint:
    """One checkpoint's outcome, as SQLite reports it.

    A passive checkpoint that a reader kept from finishing copies fewer pages than the log
    holds; the next one copies the rest.
    """

    log_pages: int
    copied_pages: int


class WalCheckpoints:
    """Checkpoints one SQLite file every `interval_seconds` until stopped."""

    def __init__(
        self,
        path: str,
        interval_seconds: float = CHECKPOINT_INTERVAL_SECONDS,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self._path = path
        self._interval = interval_seconds
        self._on_lost = on_lost
        # (device, inode) of the file first opened.
        self._identity: tuple[int, int] | None = None
        # Set once that file is gone from the path (deleted or replaced); for good.
        self._lost = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self.checkpoints_made = 0

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name="tambuli-wal-checkpoints", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after one last checkpoint, and close the connection."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def note_file_opened(self) -> None:
        """Remember the file the process's connections opened (called as each one opens).

        The first connection of the process decides: a file deleted a moment after the
        server started, before any checkpoint ran, is noticed all the same.
        """
        if self._identity is None:
            self._identity = _identify(self._path)

    def checkpoint_once(self) -> Checkpoint:
        """Copy what the log holds into the database file, without waiting for anyone."""
        if self._identity is None:
            # A file already at the path is the one the process opens (this thread never
            # creates one, so it cannot be a file of its own making).
            self.note_file_opened()
        self._check_file()
        if self._identity is None or self._lost:
            # No connection has opened the file yet, or it is gone: nothing to copy, and
            # connecting would create an empty file at the path.
            return Checkpoint(log_pages=0, copied_pages=0)
        if self._conn is None:
            # No transaction is ever open on it: PRAGMA wal_checkpoint refuses to run in one.
            # Read-write, never create: a file deleted meanwhile must stay missing.
            self._conn = sqlite3.connect(
                f"file:{quote(self._path)}?mode=rw",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
            # As the other connections (engine.py): the checkpoint syncs the file; the log's
            # commits were already made durable by the connections that wrote them.
            self._conn.execute("PRAGMA synchronous=NORMAL")
        # The first column tells whether a blocking checkpoint mode was blocked: never here.
        _, log_pages, copied_pages = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.checkpoints_made += 1
        return Checkpoint(log_pages=log_pages, copied_pages=copied_pages)

    def _check_file(self) -> None:
        if self._identity is None:
            return
        now = _identify(self._path)
        if now == self._identity:
            return
        self._lost = True
        if self._on_lost is None:
            return
        if now is None:
            self._on_lost(f"the database file {self._path} was deleted")
        else:
            self._on_lost(f"the database file {self._path} was replaced by another file")

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            self._checkpoint_logging_errors()
        self._checkpoint_logging_errors()

    def _checkpoint_logging_errors(self) -> None:
        # A failed checkpoint loses nothing (the log keeps every commit) and the next one may
        # succeed; the connections' own threshold bounds the log meanwhile.
        try:
            self.checkpoint_once()
        except sqlite3.Error:
            logger.exception("checkpointing %s failed; trying again shortly", self._path)


def _identify(path: str) -> tuple[int, int] | None:
    """The device and inode of the file at `path`; None when there is none."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino
