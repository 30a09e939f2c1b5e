"""Files use cases: upload (with audio conversion or a video check), list, read, edit, delete."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.errors import FileInUse, FileNotFound, InvalidField, InvalidFile
from tambuli.files import media, store
from tambuli.files.models import (
    MAX_CATEGORY_ERROR,
    MAX_TRANSCRIPT_CHARS,
    AudioFilter,
    FileContent,
    NewFile,
    StoredFile,
    Upload,
    UploadReport,
    VideoLimits,
    check_category,
    filename_for,
    free_filename,
    split_extension,
    title_of,
)
from tambuli.files.sniffing import detect_kind
from tambuli.texts import check_storable_text

# A download reads this much of a file per query, so a large file never sits whole in memory.
DOWNLOAD_PART_BYTES = 1_048_576
# Two uploads racing for the same name both see it free; the loser tries the next one.
_NAME_ATTEMPTS = 20


async def upload_files(
    db: Database,
    clock: Clock,
    org_id: int,
    category: str | None,
    uploads: Sequence[Upload],
    *,
    audio_filter: AudioFilter | None = None,
    video: bool = False,
    max_file_bytes: int,
) -> UploadReport:
    """Store each upload (converted or checked as asked); one upload that fails raises, and of
    several each failure is reported in `results` beside the stored ones (InvalidFile when
    none was stored)."""
    clean_category = check_category(category)
    if not clean_category:
        raise InvalidField(MAX_CATEGORY_ERROR, {"field": "category"})
    if not uploads:
        raise InvalidFile('The form has no file in a field named "upload"')
    results: dict[str, str] = {}
    stored: list[StoredFile] = []
    for upload in uploads:
        try:
            new = await asyncio.to_thread(
                prepare_file, upload, clean_category, audio_filter, video, max_file_bytes
            )
            stored.append(await _store_file(db, clock, org_id, new))
        except InvalidFile as exc:
            if len(uploads) == 1:
                raise
            results[upload.name] = exc.message
        else:
            results[upload.name] = ""
    if not stored:
        # Nothing to name in the answer's filename: the caller gets an error, as for one file.
        raise InvalidFile("No file of the upload was stored", {"results": results})
    return UploadReport(results=results, stored=stored)


def prepare_file(
    upload: Upload,
    category: str,
    audio_filter: AudioFilter | None,
    video: bool,
    max_file_bytes: int,
) -> NewFile:
    """The file to store for one upload: converted, checked and hashed (CPU-bound)."""
    title = title_of(upload.name)
    if not title:
        raise InvalidFile("The upload has no file name")
    if len(upload.data) > max_file_bytes:
        raise InvalidFile(f"The file is larger than the {max_file_bytes}-byte limit per file")
    if not upload.data:
        raise InvalidFile("The file is empty")
    kind = detect_kind(upload.data)
    content = upload.data
    thumbnail: bytes | None = None
    # The title's extension, unless a conversion changed what the file is.
    extension = split_extension(title)[1] or kind.extension
    if audio_filter is not None:
        if not kind.is_audio:
            raise InvalidFile(
                f"filter={audio_filter} converts audio, and this file is {kind.content_type}"
            )
        content, kind = media.convert_audio(upload.data, kind, audio_filter)
        extension = kind.extension
        if len(content) > max_file_bytes:
            raise InvalidFile(f"The converted file is larger than the {max_file_bytes}-byte limit")
    if video:
        if not kind.is_video:
            raise InvalidFile(f"video: the file must be a video, and it is {kind.content_type}")
        thumbnail = media.check_video(content, VideoLimits())
    return NewFile(
        title=title,
        category=category,
        extension=extension,
        content_type=kind.content_type,
        content=content,
        sha1=hashlib.sha1(content, usedforsecurity=False).hexdigest(),
        thumbnail=thumbnail,
    )


async def _store_file(db: Database, clock: Clock, org_id: int, new: NewFile) -> StoredFile:
    wanted = filename_for(new.title, new.extension)
    stem = wanted.partition(".")[0]
    for _ in range(_NAME_ATTEMPTS):
        async with db.write() as conn:
            taken = await store.select_filenames_like(conn, org_id, stem)
            filename = free_filename(wanted, taken)
            if await store.insert_file(conn, org_id, filename, new, clock.now()):
                record = await store.select_file(conn, org_id, filename)
                if record is not None:
                    return record
    raise InvalidFile("No free file name was found; try again")


async def list_files(db: Database, org_id: int, category: str | None = None) -> list[StoredFile]:
    """The organization's files sorted by title, of one category if given."""
    if category is not None:
        # PostgreSQL refuses NUL in a query's text: a 400, as on SQLite, not a failed query.
        check_storable_text("category", category)
    async with db.read() as conn:
        return await store.select_files(conn, org_id, category)


async def get_file(db: Database, org_id: int, filename: str) -> StoredFile:
    """One file's record; FileNotFound when the organization has no such file."""
    async with db.read() as conn:
        return await get_file_within(conn, org_id, filename)


async def get_file_within(conn: AsyncConnection, org_id: int, filename: str) -> StoredFile:
    """One file's record inside the caller's transaction; FileNotFound when there is none."""
    found = await store.select_file(conn, org_id, filename)
    if found is None:
        raise FileNotFound()
    return found


async def read_file(
    db: Database, org_id: int, filename: str, *, thumbnail: bool = False
) -> FileContent:
    """A file's bytes, or its video thumbnail's; FileNotFound when there are none."""
    async with db.read() as conn:
        found = await store.select_content(conn, org_id, filename, thumbnail)
    if found is None:
        raise FileNotFound()
    return found


async def stream_file(db: Database, org_id: int, filename: str, size: int) -> AsyncIterator[bytes]:
    """A file's bytes in parts of DOWNLOAD_PART_BYTES, each read on its own; the stream ends
    early if the file is deleted meanwhile."""
    offset = 0
    while offset < size:
        async with db.read() as conn:
            part = await store.select_content_part(
                conn, org_id, filename, offset, DOWNLOAD_PART_BYTES
            )
        if not part:
            return
        yield part
        offset += len(part)


async def set_transcript(db: Database, org_id: int, filename: str, transcript: str) -> None:
    """Replace a file's transcript."""
    if len(transcript) > MAX_TRANSCRIPT_CHARS or "\x00" in transcript:
        raise InvalidField(
            f"transcript must be at most {MAX_TRANSCRIPT_CHARS} characters, without NUL",
            {"field": "transcript"},
        )
    async with db.write() as conn:
        if not await store.update_transcript(conn, org_id, filename, transcript):
            raise FileNotFound()


async def delete_file(db: Database, org_id: int, filename: str) -> None:
    """Delete a file nothing uses any more; FileInUse names what still uses it."""
    async with db.write() as conn:
        users = await store.select_campaigns_naming(conn, org_id, filename)
        if users:
            names = ", ".join(str(campaign_id) for campaign_id in users)
            raise FileInUse(f"The file is used by campaign {names}", {"campaigns": users})
        queued = await store.count_queued_whatsapp_naming(conn, org_id, filename)
        if queued:
            raise FileInUse(
                f"The file is used by {queued} WhatsApp message(s) waiting to be sent",
                {"whatsappMessages": queued},
            )
        if not await store.delete_file(conn, org_id, filename):
            raise FileNotFound()
