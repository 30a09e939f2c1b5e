"""Importing contacts in the console: upload a CSV or XLSX file, map its columns with a preview,
run the import in the background of the process that got the mapping while the page shows its
progress, then read the counts and download the refused rows.

The upload, its mapping, the progress and the report live in the database
(contacts/pending_imports.py), so any process behind a load balancer serves these pages; only
the task creating the contacts runs in one process.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect

from tambuli.contacts import pending_imports
from tambuli.contacts import service as contacts
from tambuli.contacts.mapped_import import Mapping, Target
from tambuli.contacts.pending_imports import ImportState, PendingImport
from tambuli.errors import InvalidImportFile, TambuliError
from tambuli.organizations.models import Role
from tambuli.web.access import UPLOAD_OPT, Member, require_member
from tambuli.web.context import ConsoleContext, console_of
from tambuli.web.rendering import render_page

_log = logging.getLogger(__name__)
# The app state key of the import tasks this process runs (kept so none is collected early).
RUNNING_STATE = "contact_import_tasks"
TARGET_LABELS = {
    Target.PHONE: "Phone number",
    Target.FIRST_NAME: "First name",
    Target.LAST_NAME: "Last name",
    Target.LANGUAGE: "Language",
    Target.GROUPS: "Groups (names or IDs, separated by ;)",
    Target.FIELD: "Custom field named…",
    Target.IGNORE: "Ignore this column",
}


async def _find(request: Request[Any, Any, Any], member: Member, token: str) -> PendingImport:
    console = console_of(request)
    return await pending_imports.get_import(console.db, console.clock, member.org_id, token)


def _keep_task(request: Request[Any, Any, Any], task: asyncio.Task[None]) -> None:
    running: set[asyncio.Task[None]] | None = request.app.state.get(RUNNING_STATE)
    if running is None:
        running = set()
        request.app.state[RUNNING_STATE] = running
    running.add(task)
    task.add_done_callback(running.discard)


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
async def import_page(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
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
async def upload_file(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """Editors: read the uploaded file's header and records, then ask for the mapping."""
    member = await require_member(request, org_id, Role.EDITOR)
    console = console_of(request)
    upload = (await request.form()).get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidImportFile("Choose a CSV or XLSX file to upload")
        data = await upload.read()
        one = await pending_imports.upload_import(
            console.db, console.clock, member.org_id, upload.filename, data
        )
    except TambuliError as refused:
        return await _upload_page(request, member, 400, refused.message)
    return Redirect(f"/orgs/{org_id}/contacts/import/{one.token}", status_code=303)


async def _import_page(
    request: Request[Any, Any, Any],
    member: Member,
    one: PendingImport,
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
        columns=list(zip(one.header, one.mapping, strict=True)),
        preview=one.preview,
        targets=list(TARGET_LABELS.items()),
        field_names=[f.name for f in fields],
        refused=(one.report.refused[:20] if one.report else []),
    )


@get("/orgs/{org_id:int}/contacts/import/{token:str}", include_in_schema=False)
async def import_status_page(
    request: Request[Any, Any, Any], org_id: FromPath[int], token: FromPath[str]
) -> Response[Any]:
    """Editors: the mapping form, the progress bar or the result, by the import's state."""
    member = await require_member(request, org_id, Role.EDITOR)
    return await _import_page(request, member, await _find(request, member, token))


def _read_mapping(form: Any, width: int) -> list[Mapping]:
    chosen = []
    for index in range(width):
        target = form.get(f"target_{index}")
        if target not in {t.value for t in Target}:
            raise InvalidImportFile("Choose what every column of the file holds")
        chosen.append(Mapping(Target(target), str(form.get(f"field_{index}") or "").strip()))
    return chosen


@post("/orgs/{org_id:int}/contacts/import/{token:str}", include_in_schema=False, status_code=303)
async def run_import(
    request: Request[Any, Any, Any], org_id: FromPath[int], token: FromPath[str]
) -> Response[Any]:
    """Editors: check the mapping and start the import in the background."""
    member = await require_member(request, org_id, Role.EDITOR)
    console = console_of(request)
    one = await _find(request, member, token)
    if one.state is not ImportState.MAPPING:
        return Redirect(f"/orgs/{org_id}/contacts/import/{token}", status_code=303)
    form = await request.form()
    try:
        mapping = _read_mapping(form, len(one.header))
        # Shown again as chosen if the mapping is refused.
        one = replace(one, mapping=mapping)
        started = await pending_imports.start_import(
            console.db, console.clock, member.org_id, token, mapping
        )
    except TambuliError as refused:
        return await _import_page(request, member, one, 400, refused.message)
    if started:
        _keep_task(request, asyncio.create_task(_run(console, member.org_id, token)))
    return Redirect(f"/orgs/{org_id}/contacts/import/{token}", status_code=303)


async def _run(console: ConsoleContext, org_id: int, token: str) -> None:
    db, clock = console.db, console.clock
    try:
        await pending_imports.run_import(db, clock, org_id, token)
    except TambuliError as refused:
        await pending_imports.fail_import(db, clock, org_id, token, refused.message)
    except Exception:
        _log.exception("contact import %s failed", token)
        error = "The import stopped on an unexpected error."
        await pending_imports.fail_import(db, clock, org_id, token, error)


@get("/orgs/{org_id:int}/contacts/import/{token:str}/status", include_in_schema=False)
async def import_status(
    request: Request[Any, Any, Any], org_id: FromPath[int], token: FromPath[str]
) -> Response[Any]:
    """Editors: the import's state as JSON, for the progress bar."""
    member = await require_member(request, org_id, Role.EDITOR)
    one = await _find(request, member, token)
    body = {"state": one.state, "done": one.done, "total": one.total, "percent": one.percent}
    return Response(body, headers={"Cache-Control": "no-store"})


@get("/orgs/{org_id:int}/contacts/import/{token:str}/refused.csv", include_in_schema=False)
async def refused_rows(
    request: Request[Any, Any, Any], org_id: FromPath[int], token: FromPath[str]
) -> Response[Any]:
    """Editors: the refused records with their reasons, as CSV."""
    member = await require_member(request, org_id, Role.EDITOR)
    console = console_of(request)
    one = await _find(request, member, token)
    text = await pending_imports.read_refused_csv(console.db, console.clock, org_id, token)
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
