"""Export the contacts of an organization (all, or those a filter matches) as CSV (streamed) or
XLSX."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from tambuli.contacts import service, sheets
from tambuli.contacts.models import ContactFilter
from tambuli.db.engine import Database

# Contacts read per query (each in its own short read transaction).
EXPORT_BATCH_SIZE = 1000


async def _group_names(db: Database, org_id: int) -> dict[int, str]:
    return {g.id: g.name for g in await service.list_groups(db, org_id)}


async def iter_export_rows(
    db: Database, org_id: int, wanted: ContactFilter | None = None
) -> AsyncIterator[list[list[str]]]:
    """The header line, then the contacts (those matching `wanted` if given) in batches of
    rows, oldest first."""
    layout = sheets.plan_export(await service.list_custom_fields(db, org_id))
    group_names = await _group_names(db, org_id)
    yield [sheets.render_header(layout)]
    after_id = 0
    while True:
        batch = await service.list_contacts_after(db, org_id, after_id, EXPORT_BATCH_SIZE, wanted)
        if not batch:
            return
        if any(g not in group_names for contact in batch for g in contact.groups):
            # A group was created while the export ran.
            group_names = await _group_names(db, org_id)
        yield [sheets.render_contact_row(c, layout, group_names) for c in batch]
        after_id = batch[-1].id


async def stream_contacts_csv(
    db: Database, org_id: int, wanted: ContactFilter | None = None
) -> AsyncIterator[str]:
    """The CSV export in pieces, one per batch of contacts."""
    async for rows in iter_export_rows(db, org_id, wanted):
        yield sheets.render_csv(rows)


async def export_contacts_xlsx(
    db: Database, org_id: int, wanted: ContactFilter | None = None
) -> bytes:
    """The XLSX export as one file (a workbook is a ZIP, finished only at the end)."""
    book = sheets.ContactsWorkbook()
    async for rows in iter_export_rows(db, org_id, wanted):
        # openpyxl is pure Python and slow; keep the event loop answering meanwhile.
        await asyncio.to_thread(book.append_rows, rows)
    return await asyncio.to_thread(book.finish)
