"""The console's contact imports, kept in the database from the upload to the report: the file,
its mapping, the progress and the refused records. Any API process serves any of their pages,
so several processes behind a load balancer share them; each expires a day after its upload.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tambuli.clock import Clock
from tambuli.contacts import import_store, mapped_import
from tambuli.contacts.mapped_import import MappedImportReport, Mapping, RefusedRow, Target
from tambuli.db.engine import Database
from tambuli.errors import InvalidImportFile, NotFound

# An upload (and its report) is kept this long, then forgotten.
KEPT_FOR = timedelta(days=1)
# An organization keeps at most this many imports that are not running; the oldest go first.
MAX_KEPT_PER_ORG = 20
# And runs at most this many at once.
MAX_RUNNING_PER_ORG = 3
# A running import writes its progress after every batch; one silent this long was running in
# a process that stopped (a restart, a crash) and is shown as failed.
SILENT_FOR = timedelta(minutes=10)
MAX_FILENAME_LENGTH = 255
STOPPED = "The import stopped when the server did; the contacts created so far are kept."


class ImportState(StrEnum):
    """Where an import stands."""

    MAPPING = "mapping"  # uploaded; waits for the columns' mapping
    RUNNING = "running"  # creating contacts
    DONE = "done"  # finished: the report is ready
    FAILED = "failed"  # stopped on an error


@dataclass(frozen=True)
class PendingImport:
    """An uploaded file, from its mapping to its report (without the file's bytes)."""

    token: str
    org_id: int
    filename: str
    header: list[str]
    preview: list[list[str]]
    mapping: list[Mapping]
    state: ImportState
    total: int
    done: int
    report: MappedImportReport | None
    error: str
    uploaded_at: datetime

    @property
    def percent(self) -> int:
        """Records done as a whole percentage."""
        return 100 if self.total == 0 else min(100, self.done * 100 // self.total)


async def upload_import(
    db: Database, clock: Clock, org_id: int, filename: str, data: bytes
) -> PendingImport:
    """Read an uploaded file's header and records, guess the mapping and keep it all."""
    table = await asyncio.to_thread(mapped_import.read_uploaded_table, data)
    now = clock.now()
    token = secrets.token_urlsafe(16)
    async with db.write() as conn:
        await import_store.delete_expired_imports(conn, now)
        await import_store.delete_oldest_idle_imports(conn, org_id, MAX_KEPT_PER_ORG - 1)
        await import_store.insert_import(
            conn,
            {
                "id": token,
                "org_id": org_id,
                "filename": _storable_name(filename),
                "data": data,
                "header": json.dumps(table.header),
                "preview": json.dumps(table.preview()),
                "mapping": _dump_mapping(mapped_import.guess_mapping(table.header)),
                "state": ImportState.MAPPING.value,
                "total": len(table.records),
                "created_at": now,
                "updated_at": now,
                "expires_at": now + KEPT_FOR,
            },
        )
    return await get_import(db, clock, org_id, token)


async def get_import(db: Database, clock: Clock, org_id: int, token: str) -> PendingImport:
    """The organization's import; NotFound when it is another's, unknown or expired."""
    async with db.read() as conn:
        row = await import_store.select_import(conn, org_id, token)
    now = clock.now()
    if row is None or row.expires_at <= now:
        raise NotFound("No such import (imports are kept for a day)")
    found = _pending_import(row)
    if found.state is ImportState.RUNNING and now - row.updated_at > SILENT_FOR:
        return replace(found, state=ImportState.FAILED, error=STOPPED)
    return found


async def start_import(
    db: Database, clock: Clock, org_id: int, token: str, mapping: list[Mapping]
) -> bool:
    """Check the mapping and mark the import running; False when it was no longer waiting
    for its mapping (started twice, from two tabs or two processes)."""
    found = await get_import(db, clock, org_id, token)
    mapped_import.check_mapping(found.header, mapping)
    now = clock.now()
    async with db.write() as conn:
        running = await import_store.count_running_imports(conn, org_id, now - SILENT_FOR)
        if running >= MAX_RUNNING_PER_ORG:
            raise InvalidImportFile("Too many imports are running: try again in a minute")
        return await import_store.update_import(
            conn,
            org_id,
            token,
            {
                "mapping": _dump_mapping(mapping),
                "state": ImportState.RUNNING.value,
                "updated_at": now,
            },
            in_state=ImportState.MAPPING.value,
        )


async def run_import(db: Database, clock: Clock, org_id: int, token: str) -> None:
    """Create the contacts of a started import, writing its progress after every batch and
    its report at the end."""
    found = await get_import(db, clock, org_id, token)
    async with db.read() as conn:
        data = await import_store.select_import_data(conn, org_id, token)
    if data is None or found.state is not ImportState.RUNNING:
        raise NotFound("No such import running")
    table = await asyncio.to_thread(mapped_import.read_uploaded_table, data)

    async def record_progress(done: int) -> None:
        async with db.write() as conn:
            await import_store.update_import(
                conn, org_id, token, {"done": done, "updated_at": clock.now()}
            )

    report = await mapped_import.import_mapped_contacts(
        db, clock, org_id, table, found.mapping, record_progress
    )
    async with db.write() as conn:
        await import_store.update_import(
            conn,
            org_id,
            token,
            {
                "state": ImportState.DONE.value,
                "done": found.total,
                "created": report.created,
                "failed": report.failed,
                "refused": json.dumps([_dump_refused(r) for r in report.refused]),
                "updated_at": clock.now(),
            },
        )


async def fail_import(db: Database, clock: Clock, org_id: int, token: str, error: str) -> None:
    """Mark an import stopped by an error, with the text to show."""
    async with db.write() as conn:
        await import_store.update_import(
            conn,
            org_id,
            token,
            {"state": ImportState.FAILED.value, "error": error, "updated_at": clock.now()},
        )


async def read_refused_csv(db: Database, clock: Clock, org_id: int, token: str) -> str:
    """A finished import's refused records with their reasons, as CSV."""
    found = await get_import(db, clock, org_id, token)
    if found.report is None:
        raise NotFound("The import has not finished")
    return mapped_import.render_refused_csv(found.header, found.report.refused)


def _pending_import(row: Any) -> PendingImport:
    state = ImportState(row.state)
    report = None
    if state is ImportState.DONE:
        refused = [_load_refused(item) for item in json.loads(row.refused)]
        report = MappedImportReport(row.created, row.failed, refused)
    return PendingImport(
        token=row.id,
        org_id=row.org_id,
        filename=row.filename,
        header=json.loads(row.header),
        preview=json.loads(row.preview),
        mapping=[Mapping(Target(m["target"]), m["field"]) for m in json.loads(row.mapping)],
        state=state,
        total=row.total,
        done=row.done,
        report=report,
        error=row.error,
        uploaded_at=row.created_at,
    )


def _storable_name(filename: str) -> str:
    """The file's name as both databases can store it (no NUL, no lone surrogate), shortened."""
    cleaned = filename.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return cleaned[:MAX_FILENAME_LENGTH]


def _dump_mapping(mapping: list[Mapping]) -> str:
    return json.dumps([{"target": m.target.value, "field": m.field_name} for m in mapping])


def _dump_refused(refused: RefusedRow) -> dict[str, Any]:
    return {
        "row": refused.row,
        "cells": refused.cells,
        "message": refused.message,
        "errorCode": refused.error_code,
    }


def _load_refused(item: dict[str, Any]) -> RefusedRow:
    return RefusedRow(item["row"], list(item["cells"]), item["message"], item["errorCode"])
