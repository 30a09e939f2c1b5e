"""Contact import (CSV upload) and export (CSV or XLSX download); Tambuli's extension."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Stream

from tambuli.api.auth import authorize_org
from tambuli.api.runtime import runtime_of
from tambuli.api.uploads import discard_body, limited_stream, read_form_parts
from tambuli.contacts import exporting, importing
from tambuli.contacts.models import parse_id
from tambuli.errors import (
    BodyTooLarge,
    InvalidField,
    InvalidImportFile,
    InvalidInput,
    NotFound,
    Unauthorized,
)

IMPORT_PATH = "/v1/organizations/{org_id:str}/contacts/import"
EXPORT_PATH = "/v1/organizations/{org_id:str}/contacts/export"
FILE_FIELD = "file"
# Media types a raw CSV body may carry; browsers on Windows label .csv files as Excel's.
CSV_MEDIA_TYPES = frozenset(
    {
        "text/csv",
        "application/csv",
        "text/plain",
        "text/tab-separated-values",
        "application/octet-stream",
        "application/vnd.ms-excel",
    }
)
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ImportRowErrorBody(msgspec.Struct, rename="camel"):
    """Why one record was not imported; `row` is its line number in the file."""

    row: int
    error: str
    error_code: str


class ImportResultBody(msgspec.Struct, rename="camel"):
    """What an import did; `errors` lists at most the first 1000 refused records."""

    created: int
    failed: int
    errors: list[ImportRowErrorBody]


async def _read_upload(request: Request[Any, Any, Any], limit: int) -> bytes:
    media_type, options = request.content_type
    if media_type == "multipart/form-data":
        boundary = options.get("boundary")
        if not boundary:
            raise InvalidImportFile("The multipart/form-data Content-Type has no boundary")
        parts = await read_form_parts(request, FILE_FIELD, boundary, limit, InvalidImportFile)
        if not parts:
            raise InvalidImportFile('The form has no field named "file"')
        return parts[0].data
    if media_type in CSV_MEDIA_TYPES:
        return b"".join([chunk async for chunk in limited_stream(request, limit)])
    raise InvalidImportFile(
        'Send the file as multipart/form-data in a field named "file", '
        "or as the request body with Content-Type: text/csv",
        {"contentType": media_type},
    )


@post(
    IMPORT_PATH,
    operation_id="importContacts",
    tags=["Contacts"],
    status_code=200,
    # The route enforces Settings.max_upload_bytes itself, after authenticating the caller.
    request_max_body_size=None,
)
async def import_contacts(
    request: Request[Any, Any, Any], org_id: FromPath[str], group: FromQuery[str | None] = None
) -> ImportResultBody:
    """Create contacts from a CSV file: multipart/form-data field "file", or a text/csv body.

    The header line names the columns. Each bad record is reported by line and skipped;
    a file that cannot be read is refused with 400 and creates nothing.
    """
    runtime = runtime_of(request)
    limit = runtime.settings.max_upload_bytes
    try:
        principal = await authorize_org(request, org_id)
        group_id = None if group is None else parse_id(group, "group")
        data = await _read_upload(request, limit)
    except (Unauthorized, NotFound):
        # Unknown callers get no more reading than every other route gives them.
        await discard_body(request, runtime.settings.max_body_bytes)
        raise
    except (InvalidInput, BodyTooLarge):
        # A file somewhat over the limit is read to the end so its sender sees the 413.
        await discard_body(request, 2 * limit)
        raise
    report = await importing.import_contacts(
        runtime.db, runtime.clock, principal.org_id, data, group_id
    )
    return ImportResultBody(
        created=report.created,
        failed=report.failed,
        errors=[ImportRowErrorBody(e.line, e.message, e.error_code) for e in report.errors],
    )


async def _encode(pieces: AsyncIterator[str]) -> AsyncIterator[bytes]:
    async for piece in pieces:
        yield piece.encode()


@get(EXPORT_PATH, operation_id="exportContacts", tags=["Contacts"], media_type="text/csv")
async def export_contacts(
    request: Request[Any, Any, Any],
    org_id: FromPath[str],
    file_format: Annotated[str, QueryParameter(name="format")] = "csv",
) -> Response[Any]:
    """Every contact of the organization as CSV (streamed) or XLSX, for download."""
    principal = await authorize_org(request, org_id)
    if file_format not in ("csv", "xlsx"):
        raise InvalidField('format must be "csv" or "xlsx"', {"field": "format"})
    runtime = runtime_of(request)
    filename = f"contacts-{principal.org_id}-{runtime.clock.now():%Y%m%d}.{file_format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if file_format == "xlsx":
        content = await exporting.export_contacts_xlsx(runtime.db, principal.org_id)
        return Response(content, media_type=XLSX_MEDIA_TYPE, headers=headers)
    pieces = exporting.stream_contacts_csv(runtime.db, principal.org_id)
    return Stream(_encode(pieces), media_type="text/csv", headers=headers)
