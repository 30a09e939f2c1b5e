"""Send WhatsApp: compose one message for a contact or a number from one of the
organization's business numbers, as free text or a registered template, with an optional file;
preview it with the recipient's 24-hour window; send it through send_whatsapp."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from tambuli.errors import TambuliError
from tambuli.files import service as stored_files
from tambuli.organizations.models import Role
from tambuli.web.access import Member, require_member
from tambuli.web.context import console_of
from tambuli.web.outbound import sending_runtime_of
from tambuli.web.rendering import render_page
from tambuli.web.send_pages import FRAGMENT_HEADER
from tambuli.web.whatsapp_compose import (
    BusinessLine,
    WhatsAppCompose,
    WhatsAppPreview,
    build_request,
    list_business_lines,
    preview_whatsapp,
    read_whatsapp_compose,
)
from tambuli.whatsapp.sending import send_whatsapp

PAGE = "/orgs/{org_id:int}/send/whatsapp"


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    return {key: str(value) for key, value in form.items() if isinstance(value, str)}


async def _preview(
    request: Request[Any, Any, Any],
    member: Member,
    lines: list[BusinessLine],
    compose: WhatsAppCompose,
) -> WhatsAppPreview:
    console = console_of(request)
    now = console.clock.now()
    return await preview_whatsapp(console.db, now, member.org_id, lines, compose)


async def _compose_page(
    request: Request[Any, Any, Any],
    member: Member,
    compose: WhatsAppCompose | None = None,
    *,
    error: str = "",
    status_code: int = 200,
) -> Response[Any]:
    db = console_of(request).db
    lines = await list_business_lines(db, member.org_id)
    if compose is None:
        compose = WhatsAppCompose(sender=lines[0].number.number if lines else "")
    return await render_page(
        request,
        "whatsapp_send.html",
        status_code=status_code,
        member=member,
        compose=compose,
        lines=lines,
        files=await stored_files.list_files(db, member.org_id),
        preview=await _preview(request, member, lines, compose),
        error=error,
    )


@get(PAGE, include_in_schema=False)
async def whatsapp_send_page(
    request: Request[Any, Any, Any], org_id: FromPath[int]
) -> Response[Any]:
    """The WhatsApp compose form, from the organization's first business number."""
    member = await require_member(request, org_id, Role.EDITOR)
    return await _compose_page(request, member)


@post(PAGE + "/preview", include_in_schema=False, status_code=200)
async def preview_whatsapp_send(
    request: Request[Any, Any, Any], org_id: FromPath[int]
) -> Response[Any]:
    """The preview: the fragment alone for the page's script, else the page with it."""
    member = await require_member(request, org_id, Role.EDITOR)
    compose = read_whatsapp_compose(await _form(request))
    if not request.headers.get(FRAGMENT_HEADER):
        return await _compose_page(request, member, compose)
    lines = await list_business_lines(console_of(request).db, member.org_id)
    preview = await _preview(request, member, lines, compose)
    return await render_page(
        request, "whatsapp_preview.html", member=member, compose=compose, preview=preview
    )


@post(PAGE, include_in_schema=False, status_code=200)
async def send_whatsapp_message(
    request: Request[Any, Any, Any], org_id: FromPath[int]
) -> Response[Any]:
    """Send the composed message through the API's service; a refusal is shown on the form
    with what was typed."""
    member = await require_member(request, org_id, Role.EDITOR)
    compose = read_whatsapp_compose(await _form(request))
    runtime = sending_runtime_of(request)
    try:
        runtime.refuse_unless_delivering()
        wanted = await build_request(console_of(request).db, member.org_id, compose)
        sent = await send_whatsapp(runtime.outbox, runtime.services.whatsapp_intake, wanted)
    except TambuliError as refused:
        return await _compose_page(request, member, compose, error=refused.message, status_code=400)
    runtime.services.wake_whatsapp()
    return Redirect(f"/orgs/{org_id}/whatsapp/{sent.message_id}", status_code=303)


ROUTES = [whatsapp_send_page, preview_whatsapp_send, send_whatsapp_message]
