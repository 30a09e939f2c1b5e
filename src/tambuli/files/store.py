"""SQL for stored files; the bytes are read only by the download."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.schema import (
    campaigns,
    stored_files,
    whatsapp_message_files,
    whatsapp_messages,
)
from tambuli.db.statements import execute
from tambuli.files.models import FileContent, NewFile, StoredFile, names_file

_RECORD_COLUMNS = (
    stored_files.c.filename,
    stored_files.c.title,
    stored_files.c.category,
    stored_files.c.transcript,
    stored_files.c.content_type,
    stored_files.c.size,
    stored_files.c.sha1,
    stored_files.c.uploaded_at,
    stored_files.c.thumbnail.is_not(None),
)


def _record(row: Any) -> StoredFile:
    return StoredFile(
        filename=row[0],
        title=row[1],
        category=row[2],
        transcript=row[3],
        content_type=row[4],
        size=int(row[5]),
        sha1=row[6],
        uploaded_at=row[7],
        has_thumbnail=bool(row[8]),
    )


async def select_filenames_like(conn: AsyncConnection, org_id: int, stem: str) -> list[str]:
    """The organization's filenames that begin with `stem` (candidates for a collision)."""
    rows = await execute(
        conn,
        select(stored_files.c.filename).where(
            stored_files.c.org_id == org_id,
            stored_files.c.filename.startswith(stem, autoescape=True),
        ),
    )
    return [row[0] for row in rows]


async def insert_file(
    conn: AsyncConnection, org_id: int, filename: str, new: NewFile, now: datetime
) -> bool:
    """Insert a file under `filename`; False when the organization already has that name."""
    try:
        async with conn.begin_nested():
            await execute(
                conn,
                insert(stored_files).values(
                    org_id=org_id,
                    filename=filename,
                    title=new.title,
                    category=new.category,
                    transcript="",
                    content_type=new.content_type,
                    size=len(new.content),
                    sha1=new.sha1,
                    content=new.content,
                    thumbnail=new.thumbnail,
                    uploaded_at=now,
                ),
            )
    except IntegrityError:
        return False
    return True


async def select_files(
    conn: AsyncConnection, org_id: int, category: str | None
) -> list[StoredFile]:
    """The organization's files (of one category, if given), by title then filename."""
    query = select(*_RECORD_COLUMNS).where(stored_files.c.org_id == org_id)
    if category is not None:
        query = query.where(stored_files.c.category == category)
    rows = await execute(conn, query.order_by(stored_files.c.title, stored_files.c.filename))
    return [_record(row) for row in rows]


async def select_file(conn: AsyncConnection, org_id: int, filename: str) -> StoredFile | None:
    """One file's record, or None."""
    rows = await execute(
        conn,
        select(*_RECORD_COLUMNS).where(
            stored_files.c.org_id == org_id, stored_files.c.filename == filename
        ),
    )
    row = rows.first()
    return None if row is None else _record(row)


async def select_content(
    conn: AsyncConnection, org_id: int, filename: str, thumbnail: bool
) -> FileContent | None:
    """A file's bytes (or its thumbnail's), or None when there are none."""
    column = stored_files.c.thumbnail if thumbnail else stored_files.c.content
    rows = await execute(
        conn,
        select(stored_files.c.content_type, stored_files.c.sha1, column).where(
            stored_files.c.org_id == org_id, stored_files.c.filename == filename
        ),
    )
    row = rows.first()
    if row is None or row[2] is None:
        return None
    if thumbnail:
        # The thumbnail's own tag: the file's hash alone would match the video's.
        return FileContent(filename, "image/jpeg", f"{row[1]}-thumb", bytes(row[2]))
    return FileContent(filename, row[0], row[1], bytes(row[2]))


async def select_content_part(
    conn: AsyncConnection, org_id: int, filename: str, offset: int, length: int
) -> bytes | None:
    """`length` bytes of a file from `offset` (fewer at its end); None when it is gone."""
    part = func.substr(stored_files.c.content, offset + 1, length, type_=LargeBinary)
    rows = await execute(
        conn,
        select(part).where(stored_files.c.org_id == org_id, stored_files.c.filename == filename),
    )
    row = rows.first()
    return None if row is None or row[0] is None else bytes(row[0])


async def update_transcript(
    conn: AsyncConnection, org_id: int, filename: str, transcript: str
) -> bool:
    """Set a file's transcript; False when there is no such file."""
    result = await execute(
        conn,
        update(stored_files)
        .where(stored_files.c.org_id == org_id, stored_files.c.filename == filename)
        .values(transcript=transcript),
    )
    return result.rowcount > 0


async def delete_file(conn: AsyncConnection, org_id: int, filename: str) -> bool:
    """Delete a file; False when there is no such file."""
    result = await execute(
        conn,
        delete(stored_files).where(
            stored_files.c.org_id == org_id, stored_files.c.filename == filename
        ),
    )
    return result.rowcount > 0


async def select_campaigns_naming(conn: AsyncConnection, org_id: int, filename: str) -> list[int]:
    """IDs of the organization's campaigns, not stopped, whose steps name the file."""
    # The filename is URL-safe, so it appears verbatim in the stored JSON: a cheap prefilter.
    rows = await execute(
        conn,
        select(campaigns.c.id, campaigns.c.definition).where(
            campaigns.c.org_id == org_id,
            # A stopped campaign sends nothing again (campaigns.models.CampaignState.STOPPED).
            campaigns.c.state != "stopped",
            campaigns.c.definition.contains(f'"{filename}"', autoescape=True),
        ),
    )
    return [int(row[0]) for row in rows if names_file(json.loads(row[1]), filename)]


async def count_queued_whatsapp_naming(conn: AsyncConnection, org_id: int, filename: str) -> int:
    """How many of the organization's WhatsApp messages still waiting to be sent carry the file."""
    files_of, messages = whatsapp_message_files, whatsapp_messages
    found = await execute(
        conn,
        select(func.count())
        .select_from(files_of.join(messages, messages.c.id == files_of.c.message_id))
        .where(
            files_of.c.org_id == org_id,
            files_of.c.filename == filename,
            # messaging.models.MessageStatus.QUEUED: once handed off, the bytes are not read.
            messages.c.status == "queued",
        ),
    )
    return int(found.scalar_one())
