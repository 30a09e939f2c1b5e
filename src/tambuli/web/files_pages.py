"""The Files page: upload media (with a progress bar), play audio, see video thumbnails, edit
transcripts and delete files; the same rules as the Files API, through its service."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath

from tambuli.errors import InvalidFile, TambuliError
from tambuli.files import service as stored_files
from tambuli.files.models import AudioFilter, FileContent, Upload, UploadReport
from tambuli.organizations.models import Role
from tambuli.web.access import UPLOAD_OPT, Member, require_member
from tambuli.web.context import console_of
from tambuli.web.rendering import render_page

PAGE = "/orgs/{org_id:int}/files"
ONE = "/orgs/{org_id:int}/files/{filename:str}"


async def _files_page(
    request: Request[Any, Any, Any],
    member: Member,
    *,
    status_code: int = 200,
    report: UploadReport | None = None,
    error: str = "",
    notice: str = "",
) -> Response[Any]:
    console = console_of(request)
    category = request.query_params.get("category") or None
    found = await stored_files.list_files(console.db, member.org_id, category)
    every = found if category is None else await stored_files.list_files(console.db, member.org_id)
    return await render_page(
        request,
        "files.html",
        status_code=status_code,
        member=member,
        can_edit=member.may(Role.EDITOR),
        files=found,
        categories=sorted({f.category for f in every}),
        category=category or "",
        report=report,
        error=error,
        notice=notice,
        filters=[f.value for f in AudioFilter],
        limit_bytes=console.settings.max_file_bytes,
        upload_limit_bytes=console.settings.max_upload_bytes,
    )


@get(PAGE, include_in_schema=False)
async def files_page(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """Every member: the organization's files, sorted by title, by category if chosen."""
    member = await require_member(request, org_id, Role.VIEWER)
    return await _files_page(request, member)


@post(
    PAGE,
    include_in_schema=False,
    status_code=200,
    request_max_body_size=None,
    opt={UPLOAD_OPT: True},
)
async def upload_files(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """Editors: store the chosen files, converted or checked as asked; each file's result."""
    member = await require_member(request, org_id, Role.EDITOR)
    console = console_of(request)
    form = await request.form()
    chosen = [part for part in form.getall("upload") if isinstance(part, UploadFile)]
    uploads = [Upload(part.filename, await part.read()) for part in chosen if part.filename]
    audio_filter = form.get("filter") or ""
    try:
        if audio_filter and audio_filter not in {f.value for f in AudioFilter}:
            raise InvalidFile("Choose a conversion from the list")
        report = await stored_files.upload_files(
            console.db,
            console.clock,
            org_id,
            str(form.get("category") or ""),
            uploads,
            audio_filter=AudioFilter(audio_filter) if audio_filter else None,
            video=form.get("video") == "on",
            max_file_bytes=console.settings.max_file_bytes,
        )
    except TambuliError as exc:
        return await _files_page(request, member, status_code=400, error=exc.message)
    return await _files_page(request, member, report=report)


def _raw(found: FileContent) -> Response[bytes]:
    return Response(
        found.content,
        media_type=found.content_type,
        headers={
            "ETag": f'"{found.sha1}"',
            "Cache-Control": "private, no-cache",
            "X-Content-Type-Options": "nosniff",
            # Played or shown in the page, never run as a page of this site.
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@get(ONE, include_in_schema=False)
async def file_content(
    request: Request[Any, Any, Any], org_id: FromPath[int], filename: FromPath[str]
) -> Response[Any]:
    """Every member: the file's bytes (the audio player's source, a download)."""
    member = await require_member(request, org_id, Role.VIEWER)
    return _raw(await stored_files.read_file(console_of(request).db, member.org_id, filename))


@get(ONE + "/thumbnail", include_in_schema=False)
async def file_thumbnail(
    request: Request[Any, Any, Any], org_id: FromPath[int], filename: FromPath[str]
) -> Response[Any]:
    """Every member: the JPEG thumbnail of a checked video."""
    member = await require_member(request, org_id, Role.VIEWER)
    db = console_of(request).db
    return _raw(await stored_files.read_file(db, member.org_id, filename, thumbnail=True))


@post(ONE + "/transcript", include_in_schema=False, status_code=200)
async def change_transcript(
    request: Request[Any, Any, Any], org_id: FromPath[int], filename: FromPath[str]
) -> Response[Any]:
    """Editors: replace a file's transcript."""
    member = await require_member(request, org_id, Role.EDITOR)
    form = await request.form()
    transcript = str(form.get("transcript") or "")
    try:
        await stored_files.set_transcript(console_of(request).db, org_id, filename, transcript)
    except TambuliError as exc:
        return await _files_page(request, member, status_code=400, error=exc.message)
    return await _files_page(request, member, notice=f"The transcript of {filename} is saved.")


@post(ONE + "/delete", include_in_schema=False, status_code=200)
async def delete_file(
    request: Request[Any, Any, Any], org_id: FromPath[int], filename: FromPath[str]
) -> Response[Any]:
    """Editors: delete a file nothing uses any more."""
    member = await require_member(request, org_id, Role.EDITOR)
    try:
        await stored_files.delete_file(console_of(request).db, org_id, filename)
    except TambuliError as exc:
        return await _files_page(request, member, status_code=400, error=exc.message)
    return await _files_page(request, member, notice=f"{filename} is deleted.")


ROUTES: list[Any] = [
    files_page,
    upload_files,
    file_content,
    file_thumbnail,
    change_transcript,
    delete_file,
]
