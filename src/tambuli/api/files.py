"""The Files routes: upload (multipart), list, download, update the transcript, delete."""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream
from litestar.response.base import ASGIResponse

from tambuli.api.auth import authorize_org
from tambuli.api.bodies import EmptyBody
from tambuli.api.pagination import parse_query_flag
from tambuli.api.runtime import runtime_of
from tambuli.api.uploads import discard_body, read_form_parts
from tambuli.clock import format_utc_timestamp
from tambuli.errors import (
    BodyTooLarge,
    FileNotFound,
    InvalidField,
    InvalidFile,
    InvalidInput,
    MalformedJson,
    NotFound,
    Unauthorized,
)
from tambuli.files import service as files
from tambuli.files.models import AudioFilter, FileContent, StoredFile, Upload

FILES_PATH = "/v1/organizations/{org_id:str}/files"
FILE_PATH = "/v1/organizations/{org_id:str}/files/{filename:str}"
THUMBNAIL_PATH = "/v1/organizations/{org_id:str}/files/{filename:str}/thumbnail"
UPLOAD_FIELD = "upload"
# Filenames Tambuli gives out; anything else names no file (and never reaches the database).
_FILENAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,120}(\.[a-z0-9]{1,10})?$")
_READ_ONLY = ("category", "title")


class FileBody(msgspec.Struct):
    """A stored file (schema_file); `thumb` says a video thumbnail is stored with it."""

    filename: str
    title: str
    category: str
    transcript: str
    size: int
    sha1: str
    upload: str
    thumb: bool


class UploadedFileBody(msgspec.Struct):
    """One stored file of an upload."""

    filename: str
    title: str
    transcript: str


class UploadBody(msgspec.Struct):
    """An upload's answer: the first stored file, each uploaded name's error ("" when
    stored), and every stored file."""

    filename: str
    title: str
    results: dict[str, str]
    files: list[UploadedFileBody]


class UpdatedFileBody(msgspec.Struct):
    """The file that was updated."""

    filename: str


class FileStream(Stream):
    """A streamed file whose own type is its Content-Type (Litestar's Stream would take the
    route's declared type instead)."""

    def to_asgi_response(
        self,
        app: Any,
        request: Request[Any, Any, Any],
        *,
        background: Any = None,
        cookies: Any = None,
        encoded_headers: Any = None,
        headers: dict[str, str] | None = None,
        is_head_response: bool = False,
        media_type: Any = None,
        status_code: int | None = None,
        type_encoders: Any = None,
    ) -> ASGIResponse:
        """The ASGI response, typed as the file."""
        return super().to_asgi_response(
            app,
            request,
            background=background,
            cookies=cookies,
            encoded_headers=encoded_headers,
            headers=headers,
            is_head_response=is_head_response,
            media_type=self.media_type,
            status_code=status_code,
            type_encoders=type_encoders,
        )


def render_file(record: StoredFile) -> FileBody:
    """The API body of a stored file."""
    return FileBody(
        filename=record.filename,
        title=record.title,
        category=record.category,
        transcript=record.transcript,
        size=record.size,
        sha1=record.sha1,
        upload=format_utc_timestamp(record.uploaded_at),
        thumb=record.has_thumbnail,
    )


def _filename(text: str) -> str:
    if not _FILENAME.match(text):
        raise FileNotFound()
    return text


def _audio_filter(text: str | None) -> AudioFilter | None:
    if text is None or not text.strip():
        return None
    try:
        return AudioFilter(text.strip().lower())
    except ValueError:
        raise InvalidField("filter must be ogg, mp3, mono or norm", {"field": "filter"}) from None


async def _read_uploads(request: Request[Any, Any, Any], limit: int) -> list[Upload]:
    media_type, options = request.content_type
    boundary = options.get("boundary")
    if media_type != "multipart/form-data" or not boundary:
        raise InvalidFile(
            'Send the files as multipart/form-data in fields named "upload"',
            {"contentType": media_type},
        )
    parts = await read_form_parts(request, UPLOAD_FIELD, boundary, limit, InvalidFile)
    return [Upload(p.file_name, p.data) for p in parts]


@get(FILES_PATH, operation_id="getFileList", tags=["Files"])
async def list_files(
    request: Request[Any, Any, Any],
    org_id: FromPath[str],
    category: Annotated[
        str | None, QueryParameter(description="Only files of this category")
    ] = None,
) -> list[FileBody]:
    """The organization's files sorted by title; an empty category is no filter."""
    principal = await authorize_org(request, org_id)
    wanted = category.strip() if category and category.strip() else None
    found = await files.list_files(runtime_of(request).db, principal.org_id, wanted)
    return [render_file(record) for record in found]


@post(
    FILES_PATH,
    operation_id="uploadFile",
    tags=["Files"],
    status_code=200,
    # The route enforces Settings.max_upload_bytes itself, after authenticating the caller.
    request_max_body_size=None,
)
async def upload_files(
    request: Request[Any, Any, Any],
    org_id: FromPath[str],
    category: Annotated[str | None, QueryParameter(description="The category of the files")] = None,
    audio_filter: Annotated[
        str | None, QueryParameter(name="filter", description="ogg, mp3, mono or norm")
    ] = None,
    video: Annotated[
        str | None, QueryParameter(description="true: check the video for WhatsApp")
    ] = None,
) -> UploadBody:
    """Store the files of the multipart field "upload" (repeatable).

    One file that cannot be stored is a 400 with the reason; of several, each one's reason is
    in `results` and the stored ones are in `files`.
    """
    runtime = runtime_of(request)
    limit = runtime.settings.max_upload_bytes
    try:
        principal = await authorize_org(request, org_id)
        chosen_filter = _audio_filter(audio_filter)
        check_video = bool(parse_query_flag("video", video))
        uploads = await _read_uploads(request, limit)
    except (Unauthorized, NotFound):
        # Unknown callers get no more reading than every other route gives them.
        await discard_body(request, runtime.settings.max_body_bytes)
        raise
    except (InvalidInput, BodyTooLarge):
        # A body somewhat over the limit is read to the end so its sender sees the answer.
        await discard_body(request, 2 * limit)
        raise
    report = await files.upload_files(
        runtime.db,
        runtime.clock,
        principal.org_id,
        category,
        uploads,
        audio_filter=chosen_filter,
        video=check_video,
        max_file_bytes=runtime.settings.max_file_bytes,
    )
    stored = [UploadedFileBody(r.filename, r.title, r.transcript) for r in report.stored]
    # The service stores at least one file or raises.
    first = stored[0]
    return UploadBody(
        filename=first.filename, title=first.title, results=report.results, files=stored
    )


@get(FILE_PATH, operation_id="downloadFile", tags=["Files"], media_type="application/octet-stream")
async def download_file(
    request: Request[Any, Any, Any], org_id: FromPath[str], filename: FromPath[str]
) -> Response[Any]:
    """The file's raw bytes with its detected type and its SHA-1 as the ETag; a large file is
    streamed in parts."""
    principal = await authorize_org(request, org_id)
    db = runtime_of(request).db
    record = await files.get_file(db, principal.org_id, _filename(filename))
    if record.size <= files.DOWNLOAD_PART_BYTES:
        found = await files.read_file(db, principal.org_id, record.filename)
        return _content_response(request, found, found.filename)
    headers = _content_headers(record.sha1, record.filename)
    if headers["ETag"] in request.headers.get("if-none-match", ""):
        return Response(b"", status_code=304, headers=headers)
    headers["Content-Length"] = str(record.size)
    pieces = files.stream_file(db, principal.org_id, record.filename, record.size)
    return FileStream(pieces, media_type=record.content_type, headers=headers)


@get(
    THUMBNAIL_PATH,
    operation_id="downloadFileThumbnail",
    tags=["Files"],
    media_type="image/jpeg",
    # Left out of /openapi.json: API checkers read every POST answering a filename as creating
    # a thumbnail (docs/files.md describes the route).
    include_in_schema=False,
)
async def download_thumbnail(
    request: Request[Any, Any, Any], org_id: FromPath[str], filename: FromPath[str]
) -> Response[bytes]:
    """The JPEG thumbnail stored with a checked video (`thumb: true` in the list); Tambuli's
    extension."""
    principal = await authorize_org(request, org_id)
    found = await files.read_file(
        runtime_of(request).db, principal.org_id, _filename(filename), thumbnail=True
    )
    return _content_response(request, found, f"{found.filename.partition('.')[0]}-thumb.jpg")


def _content_headers(sha1: str, shown_name: str) -> dict[str, str]:
    return {
        "ETag": f'"{sha1}"',
        "Cache-Control": "private, no-cache",
        # Filenames are URL-safe, so they need no quoting inside the header.
        "Content-Disposition": f'inline; filename="{shown_name}"',
    }


def _content_response(
    request: Request[Any, Any, Any], found: FileContent, shown_name: str
) -> Response[bytes]:
    headers = _content_headers(found.sha1, shown_name)
    if headers["ETag"] in request.headers.get("if-none-match", ""):
        return Response(b"", status_code=304, headers=headers)
    return Response(found.content, media_type=found.content_type, headers=headers)


@post(FILE_PATH, operation_id="updateFile", tags=["Files"], status_code=200)
async def update_file(
    request: Request[Any, Any, Any], org_id: FromPath[str], filename: FromPath[str]
) -> UpdatedFileBody:
    """Set the transcript; category and title cannot be changed (400 when given)."""
    principal = await authorize_org(request, org_id)
    name = _filename(filename)
    raw = await request.body()
    try:
        body = msgspec.json.decode(raw) if raw.strip() else {}
    except msgspec.DecodeError:
        raise MalformedJson() from None
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object")
    for field in _READ_ONLY:
        if field in body:
            raise InvalidField(f"{field} is read-only", {"field": field})
    runtime = runtime_of(request)
    transcript = body.get("transcript")
    if transcript is None:
        # Nothing to change: the file must still exist.
        await files.get_file(runtime.db, principal.org_id, name)
        return UpdatedFileBody(name)
    if not isinstance(transcript, str):
        raise InvalidField("transcript must be a string", {"field": "transcript"})
    await files.set_transcript(runtime.db, principal.org_id, name, transcript)
    return UpdatedFileBody(name)


@delete(FILE_PATH, operation_id="deleteFile", tags=["Files"], status_code=200)
async def delete_file(
    request: Request[Any, Any, Any], org_id: FromPath[str], filename: FromPath[str]
) -> EmptyBody:
    """Delete the file; a file a campaign step still names is `400 file.inuse`."""
    principal = await authorize_org(request, org_id)
    await files.delete_file(runtime_of(request).db, principal.org_id, _filename(filename))
    return EmptyBody()
