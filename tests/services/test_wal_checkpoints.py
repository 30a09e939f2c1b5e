"""SQLite's write-ahead log is checkpointed by a thread of its own, not inside commits."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from tambuli.db.engine import Database
from tambuli.db.wal_checkpoints import AUTOCHECKPOINT_PAGES, Checkpoint, WalCheckpoints

# Rows of about 1 KiB; SQLite's own threshold is 1,000 pages of 4 KiB.
ROW = "x" * 1000
ROWS_PAST_DEFAULT_THRESHOLD = 6000


async def _fill(db: Database, rows: int) -> None:
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS filler (body TEXT NOT NULL)"))
    for start in range(0, rows, 500):
        # One commit per 500 rows: SQLite checks its threshold at every commit.
        async with db.write() as conn:
            await conn.execute(
                text("INSERT INTO filler (body) VALUES (:body)"),
                [{"body": ROW} for _ in range(start, min(start + 500, rows))],
            )


async def _autocheckpoint_pages(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one())


def _open_without_the_thread(path: Path) -> tuple[Database, WalCheckpoints]:
    """A Database set up for background checkpoints, its thread stopped: the test checkpoints."""
    db = Database(f"sqlite:///{path}", checkpoint_in_background=True)
    assert db.checkpoints is not None
    db.checkpoints.stop()
    return db, db.checkpoints


def _log_pages(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size // 4096 if wal.exists() else 0


async def test_commits_leave_the_log_to_the_checkpoint_thread(tmp_path: Path) -> None:
    path = tmp_path / "tambuli.db"
    db, checkpoints = _open_without_the_thread(path)
    try:
        assert await _autocheckpoint_pages(db) == AUTOCHECKPOINT_PAGES
        await _fill(db, ROWS_PAST_DEFAULT_THRESHOLD)
        # Past SQLite's default threshold, and no commit copied it into the database file.
        assert _log_pages(path) > 1000
        size_before = path.stat().st_size
        done = checkpoints.checkpoint_once()
        assert done.copied_pages == done.log_pages > 1000
        assert path.stat().st_size > size_before + 1000 * 4096
        async with db.read() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM filler"))).scalar_one()
        assert count == ROWS_PAST_DEFAULT_THRESHOLD
    finally:
        await db.dispose()


async def test_without_the_thread_commits_checkpoint_as_sqlite_does(tmp_path: Path) -> None:
    path = tmp_path / "tambuli.db"
    db = Database(f"sqlite:///{path}")
    try:
        assert db.checkpoints is None
        assert await _autocheckpoint_pages(db) == 1000
        await _fill(db, ROWS_PAST_DEFAULT_THRESHOLD)
        # Commits copied the log into the file as they passed the threshold.
        assert path.stat().st_size > ROWS_PAST_DEFAULT_THRESHOLD * 1000 // 2
    finally:
        await db.dispose()


async def test_the_thread_checkpoints_until_disposed_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "tambuli.db"
    db, _ = _open_without_the_thread(path)
    running = WalCheckpoints(str(path), interval_seconds=0.01)
    running.start()
    try:
        await _fill(db, 2000)
        deadline = time.monotonic() + 60
        while running.checkpoints_made < 2:
            assert time.monotonic() < deadline, "no checkpoints made"
            await asyncio.sleep(0.01)
        assert running.checkpoints_made >= 2
    finally:
        running.stop()
        await db.dispose()
    made = running.checkpoints_made
    await asyncio.sleep(0.05)
    assert running.checkpoints_made == made
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM filler").fetchone() == (2000,)


async def test_a_failing_checkpoint_is_logged_and_tried_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="tambuli.db.wal_checkpoints")
    not_a_database = tmp_path / "tambuli.db"
    not_a_database.write_bytes(b"this is not an SQLite database file" * 200)
    checkpoints = WalCheckpoints(str(not_a_database), interval_seconds=0.01)
    checkpoints.start()
    try:
        deadline = time.monotonic() + 60
        while len(caplog.records) < 2:
            assert time.monotonic() < deadline, "no failed checkpoints logged"
            await asyncio.sleep(0.01)
    finally:
        checkpoints.stop()
    assert len(caplog.records) >= 2
    assert all("checkpointing" in record.getMessage() for record in caplog.records)


async def test_a_file_deleted_before_the_first_checkpoint_is_noticed_and_not_made_anew(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tambuli.db"
    lost: list[str] = []
    db = Database(f"sqlite:///{path}")
    async with db.write() as conn:
        await conn.exec_driver_sql("CREATE TABLE filler (n INTEGER)")
    checkpoints = WalCheckpoints(str(path), on_lost=lost.append)
    # What the engine does as each of its connections opens the file (engine.py).
    checkpoints.note_file_opened()
    await db.dispose()
    path.unlink()
    assert checkpoints.checkpoint_once() == Checkpoint(log_pages=0, copied_pages=0)
    assert lost == [f"the database file {path} was deleted"]
    assert not path.exists()


def test_in_memory_databases_have_no_checkpoint_thread() -> None:
    assert Database("sqlite:///:memory:", checkpoint_in_background=True).checkpoints is None
    assert Database("sqlite://", checkpoint_in_background=True).checkpoints is None
