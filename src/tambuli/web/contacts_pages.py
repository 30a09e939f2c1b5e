"""The contacts list (search, group, conditions, paging), its CSV/XLSX export, and the
organization's groups and custom fields."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Stream

from tambuli.contacts import exporting
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactFilter, ContactPage
from tambuli.errors import InvalidField, TambuliError
from tambuli.organizations.models import Role
from tambuli.web.access import Member, require_member
from tambuli.web.contacts_filters import (
    OPERATOR_LABELS,
    FilterForm,
    FilterRefused,
    field_choices,
    read_filter,
)
from tambuli.web.context import console_of
from tambuli.web.rendering import render_page

PAGE_SIZE = 50
# Offsets stay 64-bit in both databases.
MAX_PAGE = 10**15
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _page_number(text: str | None) -> int:
    if text is None or not text.strip():
        return 1
    if not text.strip().isdigit() or not 0 < int(text) <= MAX_PAGE:
        raise InvalidField("page must be a whole number from 1", {"field": "page"})
    return int(text)


@get("/orgs/{org_id:int}/contacts", include_in_schema=False)
async def contacts_page(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """One page of the organization's contacts matching the filter."""
    member = await require_member(request, org_id, Role.VIEWER)
    console = console_of(request)
    groups = await contacts.list_groups(console.db, org_id)
    fields = await contacts.list_custom_fields(console.db, org_id)
    page = _page_number(request.query_params.get("page"))
    choices = field_choices([f.name for f in fields])
    known = {value for value, _ in choices}
    status = 200
    try:
        form, wanted = read_filter(request.query_params, known)
        found = await contacts.list_contacts(console.db, org_id, wanted, page, PAGE_SIZE)
    except FilterRefused as refused:
        form, found, status = refused.form, ContactPage(0, 0, []), 400
    except TambuliError as refused:
        form, found, status = read_filter_form(request, known), ContactPage(0, 0, []), 400
        form.error = refused.message
    pages = max(1, (found.total + PAGE_SIZE - 1) // PAGE_SIZE)
    return await render_page(
        request,
        "contacts_list.html",
        status_code=status,
        member=member,
        form=form,
        found=found,
        page=page,
        pages=pages,
        first_shown=(page - 1) * PAGE_SIZE + 1,
        groups=groups,
        group_names={g.id: g.name for g in groups},
        fields=choices,
        operators=[(op.value, label) for op, label in OPERATOR_LABELS.items()],
        can_edit=member.may(Role.EDITOR),
        deleted=request.query_params.get("deleted") == "1",
    )


def read_filter_form(request: Request[Any, Any, Any], known: set[str]) -> FilterForm:
    """The filter form of the query string, for a page whose filter the service refused."""
    try:
        return read_filter(request.query_params, known)[0]
    except FilterRefused as refused:
        return refused.form


async def _encode(pieces: AsyncIterator[str]) -> AsyncIterator[bytes]:
    async for piece in pieces:
        yield piece.encode()


@get("/orgs/{org_id:int}/contacts/export/{file_format:str}", include_in_schema=False)
async def export_contacts(
    request: Request[Any, Any, Any], org_id: FromPath[int], file_format: FromPath[str]
) -> Response[Any]:
    """The contacts of the current filter as a CSV (streamed) or XLSX download."""
    await require_member(request, org_id, Role.VIEWER)
    if file_format not in ("csv", "xlsx"):
        raise InvalidField('format must be "csv" or "xlsx"', {"field": "format"})
    console = console_of(request)
    try:
        _, wanted = read_filter(request.query_params)
    except FilterRefused as refused:
        raise InvalidField(str(refused), {"field": "conditions"}) from None
    # An unknown custom field in the conditions is refused before the download starts.
    await contacts.list_contacts(console.db, org_id, wanted, 1, 1)
    filename = f"contacts-{org_id}-{console.clock.now():%Y%m%d}.{file_format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if file_format == "xlsx":
        content = await exporting.export_contacts_xlsx(console.db, org_id, _or_none(wanted))
        return Response(content, media_type=XLSX_MEDIA_TYPE, headers=headers)
    pieces = exporting.stream_contacts_csv(console.db, org_id, _or_none(wanted))
    return Stream(_encode(pieces), media_type="text/csv; charset=utf-8", headers=headers)


def _or_none(wanted: ContactFilter) -> ContactFilter | None:
    return None if wanted == ContactFilter() else wanted


async def _groups_page(
    request: Request[Any, Any, Any],
    member: Member,
    status_code: int = 200,
    group_error: str = "",
    field_error: str = "",
    group_name: str = "",
    field_name: str = "",
) -> Response[Any]:
    console = console_of(request)
    return await render_page(
        request,
        "contacts_groups.html",
        status_code=status_code,
        member=member,
        groups=await contacts.list_groups(console.db, member.org_id),
        fields=await contacts.list_custom_fields(console.db, member.org_id),
        group_error=group_error,
        field_error=field_error,
        group_name=group_name,
        field_name=field_name,
        can_edit=member.may(Role.EDITOR),
    )


@get("/orgs/{org_id:int}/contacts/groups", include_in_schema=False)
async def groups_page(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """The organization's groups (with sizes) and custom fields."""
    member = await require_member(request, org_id, Role.VIEWER)
    return await _groups_page(request, member)


@post("/orgs/{org_id:int}/contacts/groups", include_in_schema=False, status_code=303)
async def create_group(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """Editors: add a group."""
    member = await require_member(request, org_id, Role.EDITOR)
    console = console_of(request)
    name = str((await request.form()).get("name") or "")
    try:
        await contacts.create_group(console.db, console.clock, org_id, name)
    except TambuliError as refused:
        return await _groups_page(
            request, member, status_code=400, group_error=refused.message, group_name=name
        )
    return Redirect(f"/orgs/{org_id}/contacts/groups", status_code=303)


@post("/orgs/{org_id:int}/contacts/fields", include_in_schema=False, status_code=303)
async def create_custom_field(
    request: Request[Any, Any, Any], org_id: FromPath[int]
) -> Response[Any]:
    """Editors: add a custom field."""
    member = await require_member(request, org_id, Role.EDITOR)
    console = console_of(request)
    name = str((await request.form()).get("name") or "")
    try:
        await contacts.create_custom_field(console.db, console.clock, org_id, name)
    except TambuliError as refused:
        return await _groups_page(
            request, member, status_code=400, field_error=refused.message, field_name=name
        )
    return Redirect(f"/orgs/{org_id}/contacts/groups", status_code=303)


ROUTES = [contacts_page, export_contacts, groups_page, create_group, create_custom_field]
