"""Importing contacts in the console: upload a CSV or XLSX file, map its columns with a preview,
run the import in the background of this process while the page shows its progress, then read
the counts and download the refused rows.

Uploads and running imports are kept in this process's memory (a few at a time) and are lost
on restart; the contacts an import created stay.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.response import Redirect

from tambuli.contacts import mapped_import
from tambuli.contacts import service as contacts
from tambuli.contacts.mapped_import import MappedImportReport, Mapping, Target, UploadedTable
from tambuli.errors import InvalidImportFile, NotFound, TambuliError
from tambuli.organizations.models import Role
from tambuli.web.access import UPLOAD_OPT, Member, require_member
from tambuli.web.context import ConsoleContext, console_of
from tambuli.web.rendering import render_page

_log = logging.getLogger(__name__)
# The app state key of this process's imports.
IMPORTS_STATE = "contact_imports"
# Uploads and imports kept at once; the oldest finished or unmapped one goes first.
MAX_KEPT_IMPORTS = 20
TARGET_LABELS = {
    Target.PHONE: "Phone number",
    Target.FIRST_NAME: "First name",
    Target.LAST_NAME: "Last name",
    Target.LANGUAGE: "Language",
    Target.GROUPS: "Groups (names or IDs, separated by ;)",
    Target.FIELD: "Custom field named…",
    Target.IGNORE: "Ignore this column",
}


@dataclass
class ContactImport:
    """One uploaded file, from its mapping to its report."""

    token: str
    org_id: int
    filename: str
    table: UploadedTable
    uploaded_at: datetime
    state: str = "mapping"  # mapping, running, done or failed
    done: int = 0
    mapping: list[Mapping] = field(default_factory=list)
    report: MappedImportReport | None = None
    error: str = ""
    task: asyncio.Task[None] | None = None

    @property
    def total(self) -> int:
        """Records in the file (after the header)."""
        return len(self.table.records)

    @property
    def percent(self) -> int:
        """Records done as a whole percentage."""
        return 100 if self.total == 0 else min(100, self.done * 100 // self.total)


def _imports(request: Request[Any, Any, Any]) -> dict[str, ContactImport]:
    kept: dict[str, ContactImport] | None = request.app.state.get(IMPORTS_STATE)
    if kept is None:
        kept = {}
        request.app.state[IMPORTS_STATE] = kept
    return kept


def _keep(request: Request[Any, Any, Any], one: ContactImport) -> None:
    kept = _imports(request)
    while len(kept) >= MAX_KEPT_IMPORTS:
        idle = [i for i in kept.values() if i.state != "running"]
        if not idle:
            raise InvalidImportFile("Too many imports are running: try again in a minute")
        del kept[min(idle, key=lambda i: i.uploaded_at).token]
    kept[one.token] = one


def _find(request: Request[Any, Any, Any], member: Member, token: str) -> ContactImport:
    found = _imports(request).get(token)
    if found is None or found.org_id != member.org_id:
        raise NotFound("No such import")
    return found


async def _upload_page(
    request: Request[Any, Any, Any], member: Member, status_code: int = 200, error: str = ""
) -> Response[Any]:
    return await render_page(
        request,
        "contacts_import.html",
        status_code=status_code,
        member=member,
        error=error,
        limit_bytes=console_of(request).settings.max_upload_bytes,
    )


@get("/orgs/{org_id:int}/contacts/import", include_in_schema=False)
async def import_page(request: Request[Any, Any, Any], org_id: int) -> Response[Any]:
    """Editors: the upload form."""
    member = await require_member(request, org_id, Role.EDITOR)
    return await _upload_page(request, member)


@post(
    "/orgs/{org_id:int}/contacts/import",
    include_in_schema=False,
    status_code=303,
    request_max_body_size=None,
    opt={UPLOAD_OPT: True},
)
async def upload_file(request: Request[Any, Any, Any], org_id: int) -> Response[Any]:
    """Editors: read the uploaded file's header and records, then ask for the mapping."""
    member = await require_member(request, org_id, Role.EDITOR)
    console = console_of(request)
    upload = (await request.form()).get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidImportFile("Choose a CSV or XLSX file to upload")
        data = await upload.read()
        table = await asyncio.to_thread(mapped_import.read_uploaded_table, data)
        one = ContactImport(
            secrets.token_urlsafe(16), org_id, upload.filename, table, console.clock.now()
        )
        one.mapping = mapped_import.guess_mapping(table.header)
        _keep(request, one)
    except TambuliError as refused:
        return await _upload_page(request, member, 400, refused.message)
    return Redirect(f"/orgs/{org_id}/contacts/import/{one.token}", status_code=303)


async def _import_page(
    request: Request[Any, Any, Any],
    member: Member,
    one: ContactImport,
    status_code: int = 200,
    error: str = "",
) -> Response[Any]:
    fields = await contacts.list_custom_fields(console_of(request).db, member.org_id)
    return await render_page(
        request,
        "contacts_import_run.html",
        status_code=status_code,
        member=member,
        one=one,
        error=error,
        columns=list(zip(one.table.header, one.mapping, strict=True)),
        preview=one.table.preview(),
        targets=list(TARGET_LABELS.items()),
        field_names=[f.name for f in fields],
        refused=(one.report.refused[:20] if one.report else []),
    )


@get("/orgs/{org_id:int}/contacts/import/{token:str}", include_in_schema=False)
async def import_status_page(
    request: Request[Any, Any, Any], org_id: int, token: str
) -> Response[Any]:
    """Editors: the mapping form, the progress bar or the result, by the import's state."""
    member = await require_member(request, org_id, Role.EDITOR)
    return await _import_page(request, member, _find(request, member, token))


def _read_mapping(form: Any, width: int) -> list[Mapping]:
    chosen = []
    for index in range(width):
        target = form.get(f"target_{index}")
        if target not in {t.value for t in Target}:
            raise InvalidImportFile("Choose what every column of the file holds")
        chosen.append(Mapping(Target(target), str(form.get(f"field_{index}") or "").strip()))
    return chosen


@post("/orgs/{org_id:int}/contacts/import/{token:str}", include_in_schema=False, status_code=303)
async def run_import(request: Request[Any, Any, Any], org_id: int, token: str) -> Response[Any]:
    """Editors: check the mapping and start the import in the background."""
    member = await require_member(request, org_id, Role.EDITOR)
    one = _find(request, member, token)
    if one.state != "mapping":
        return Redirect(f"/orgs/{org_id}/contacts/import/{token}", status_code=303)
    form = await request.form()
    try:
        one.mapping = _read_mapping(form, len(one.table.header))
        mapped_import.check_mapping(one.table.header, one.mapping)
    except TambuliError as refused:
        return await _import_page(request, member, one, 400, refused.message)
    one.state = "running"
    one.task = asyncio.create_task(_run(console_of(request), one))
    return Redirect(f"/orgs/{org_id}/contacts/import/{token}", status_code=303)


async def _run(console: ConsoleContext, one: ContactImport) -> None:
    def progress(done: int) -> None:
        one.done = done

    try:
        one.report = await mapped_import.import_mapped_contacts(
            console.db, console.clock, one.org_id, one.table, one.mapping, progress
        )
        one.done, one.state = one.total, "done"
    except TambuliError as refused:
        one.state, one.error = "failed", refused.message
    except Exception:
        _log.exception("contact import %s failed", one.token)
        one.state, one.error = "failed", "The import stopped on an unexpected error."


@get("/orgs/{org_id:int}/contacts/import/{token:str}/status", include_in_schema=False)
async def import_status(request: Request[Any, Any, Any], org_id: int, token: str) -> Response[Any]:
    """Editors: the import's state as JSON, for the progress bar."""
    member = await require_member(request, org_id, Role.EDITOR)
    one = _find(request, member, token)
    body = {"state": one.state, "done": one.done, "total": one.total, "percent": one.percent}
    return Response(body, headers={"Cache-Control": "no-store"})


@get("/orgs/{org_id:int}/contacts/import/{token:str}/refused.csv", include_in_schema=False)
async def refused_rows(request: Request[Any, Any, Any], org_id: int, token: str) -> Response[Any]:
    """Editors: the refused records with their reasons, as CSV."""
    member = await require_member(request, org_id, Role.EDITOR)
    one = _find(request, member, token)
    if one.report is None:
        raise NotFound("The import has not finished")
    text = mapped_import.render_refused_csv(one.table.header, one.report.refused)
    filename = f"refused-rows-{one.uploaded_at:%Y%m%d-%H%M}.csv"
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


ROUTES = [import_page, upload_file, import_status_page, run_import, import_status, refused_rows]
