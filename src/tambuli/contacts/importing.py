"""Import contacts from a CSV file: good records are created in batches, bad ones reported."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.clock import Clock
from tambuli.contacts import batch_store, transfer
from tambuli.contacts import groups as group_store
from tambuli.contacts.models import Group, fold_name
from tambuli.contacts.transfer import ImportedRow, RowError
from tambuli.db.engine import Database
from tambuli.errors import TambuliError, UnknownGroup

# Rows per transaction: large enough to amortise the commit, small enough not to hold
# SQLite's single write lock for long while other requests wait.
IMPORT_BATCH_SIZE = 500
# A report lists this many row errors at most; `failed` still counts them all.
MAX_REPORTED_ERRORS = 1000


@dataclass
class ImportReport:
    """What an import did: contacts created, records refused and why (the first ones)."""

    created: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)

    def refuse(self, error: RowError) -> None:
        """Count a refused record and keep its reason while the list has room."""
        self.failed += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(error)


@dataclass
class _Targets:
    """The organization's groups and custom fields, learnt once and created as needed."""

    group_ids_by_name: dict[str, int]
    group_ids: set[int]
    field_ids_by_name: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, groups: list[Group]) -> _Targets:
        return cls({fold_name(g.name): g.id for g in groups}, {g.id for g in groups})

    async def resolve_groups(
        self, conn: AsyncConnection, org_id: int, refs: tuple[str, ...], now: datetime
    ) -> list[int]:
        # Every reference is checked before any group is created, so a refused row creates none.
        found = [
            (ref, transfer.resolve_group_ref(ref, self.group_ids_by_name, self.group_ids))
            for ref in refs
        ]
        ids: list[int] = []
        for ref, group_id in found:
            if group_id is None:
                group_id = await group_store.insert_group(conn, org_id, ref, now)
                if group_id is None:
                    # Another request created it since the import began.
                    group_id = await group_store.select_group_id_by_name(conn, org_id, ref)
                assert group_id is not None
                self.group_ids_by_name[fold_name(ref)] = group_id
                self.group_ids.add(group_id)
            if group_id not in ids:
                ids.append(group_id)
        return ids

    async def resolve_fields(
        self, conn: AsyncConnection, org_id: int, names: set[str], now: datetime
    ) -> None:
        missing = {fold_name(n): n for n in names if fold_name(n) not in self.field_ids_by_name}
        if not missing:
            return
        found = await group_store.find_or_create_field_ids(conn, org_id, missing.values(), now)
        self.field_ids_by_name.update(found)


async def import_contacts(
    db: Database,
    clock: Clock,
    org_id: int,
    data: bytes,
    group_id: int | None = None,
    on_progress: Callable[[ImportReport], Awaitable[None]] | None = None,
) -> ImportReport:
    """Create a contact per good record of a CSV file, also in group_id if given; on_progress
    sees the report after each batch.

    A file that cannot be read raises InvalidImportFile before anything is created.
    """
    # Decoding and checking a large file takes a while; keep the event loop answering.
    source = await asyncio.to_thread(transfer.read_contacts_file, data)
    async with db.read() as conn:
        targets = _Targets.of(await group_store.select_groups(conn, org_id))
    if group_id is not None and group_id not in targets.group_ids:
        raise UnknownGroup(f"Unknown group ID {group_id}", {"groupIds": [group_id]})
    report = ImportReport()
    records = transfer.iter_records(source)
    while True:
        taken = await asyncio.to_thread(
            transfer.take_contact_rows, source.columns, records, IMPORT_BATCH_SIZE
        )
        if not taken:
            return report
        rows: list[ImportedRow] = []
        for row in taken:
            if isinstance(row, RowError):
                report.refuse(row)
            else:
                rows.append(row)
        if rows:
            async with db.write() as conn:
                await _create_rows(conn, clock, org_id, rows, targets, group_id, report)
        if on_progress is not None:
            await on_progress(report)


async def _create_rows(
    conn: AsyncConnection,
    clock: Clock,
    org_id: int,
    rows: list[ImportedRow],
    targets: _Targets,
    group_id: int | None,
    report: ImportReport,
) -> None:
    now = clock.now()
    names = {name for row in rows for name in row.fields.custom_fields_by_name}
    await targets.resolve_fields(conn, org_id, names, now)
    accepted: list[tuple[ImportedRow, list[int]]] = []
    for row in rows:
        try:
            group_ids = await targets.resolve_groups(conn, org_id, row.group_refs, now)
        except TambuliError as exc:
            report.refuse(RowError.of(row.line, exc))
            continue
        if group_id is not None and group_id not in group_ids:
            group_ids.append(group_id)
        accepted.append((row, group_ids))
    contact_ids = await batch_store.insert_contacts(
        conn, org_id, [(row.phone, row.fields) for row, _ in accepted], now
    )
    await batch_store.insert_group_memberships(
        conn,
        [
            (contact_id, g)
            for contact_id, (_, group_ids) in zip(contact_ids, accepted, strict=True)
            for g in group_ids
        ],
    )
    await batch_store.insert_field_values(
        conn,
        [
            (contact_id, targets.field_ids_by_name[fold_name(name)], value)
            for contact_id, (row, _) in zip(contact_ids, accepted, strict=True)
            for name, value in row.fields.custom_fields_by_name.items()
        ],
    )
    report.created += len(contact_ids)
