"""Send: compose one SMS for a number, a contact, a group or a filter, preview it (encoding,
parts, personalisation, cost) and send it through the API's own send services."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import parse_id
from tambuli.errors import InvalidField, TambuliError
from tambuli.messaging.bulk import BulkOutcome, BulkSend, send_bulk_sms
from tambuli.messaging.sending import SendRequest, send_sms
from tambuli.organizations.models import Role
from tambuli.web.access import Member, require_member
from tambuli.web.context import console_of
from tambuli.web.outbound import sending_runtime_of
from tambuli.web.rendering import render_page
from tambuli.web.send_preview import (
    MAX_CONSOLE_RECIPIENTS,
    Compose,
    Preview,
    find_recipient_ids,
    preview_message,
    read_compose,
)

# Asked by the page's script: answer the preview alone, not the whole page.
FRAGMENT_HEADER = "x-console-fragment"


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    return {key: str(value) for key, value in form.items() if isinstance(value, str)}


async def _send_page(
    request: Request[Any, Any, Any],
    member: Member,
    compose: Compose,
    preview: Preview | None = None,
    error: str = "",
    status_code: int = 200,
    outcome: dict[str, Any] | None = None,
) -> Response[Any]:
    groups = await contacts.list_groups(console_of(request).db, member.org_id)
    return await render_page(
        request,
        "send.html",
        status_code=status_code,
        member=member,
        compose=compose,
        preview=preview,
        groups=groups,
        error=error,
        outcome=outcome,
        cap=MAX_CONSOLE_RECIPIENTS,
    )


@get("/orgs/{org_id:int}/send", include_in_schema=False)
async def send_page(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """The compose form."""
    member = await require_member(request, org_id, Role.EDITOR)
    return await _send_page(request, member, Compose())


@post("/orgs/{org_id:int}/send/preview", include_in_schema=False, status_code=200)
async def preview_send(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """The preview: the fragment alone for the page's script, else the page with it."""
    member = await require_member(request, org_id, Role.EDITOR)
    compose = read_compose(await _form(request))
    outbox = sending_runtime_of(request).outbox
    preview = await preview_message(console_of(request).db, outbox, member.org_id, compose)
    if request.headers.get(FRAGMENT_HEADER):
        return await render_page(request, "send_preview.html", member=member, preview=preview)
    return await _send_page(request, member, compose, preview)


@post("/orgs/{org_id:int}/send", include_in_schema=False, status_code=200)
async def send_message(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """Send the composed SMS; a refusal is shown on the form with the text kept."""
    member = await require_member(request, org_id, Role.EDITOR)
    compose = read_compose(await _form(request))
    runtime = sending_runtime_of(request)
    try:
        runtime.refuse_unless_delivering()
        if compose.kind in ("number", "contact"):
            sent = await send_sms(runtime.outbox, _single_request(member.org_id, compose))
            runtime.wake_delivery()
            return Redirect(f"/orgs/{org_id}/messages/{sent.message.message_id}", status_code=303)
        outcomes = await _send_to_many(request, member, compose)
    except TambuliError as refused:
        return await _refuse(request, member, compose, refused.message)
    runtime.wake_delivery()
    queued = [o for o in outcomes if o.message is not None]
    failed = [o for o in outcomes if o.error is not None]
    outcome = {
        "queued": len(queued),
        "failed": [(o.recipient, o.error.message) for o in failed[:20] if o.error],
        "more_failed": max(0, len(failed) - 20),
        "cost_micro": sum(
            o.message.parts * o.message.price_per_part_micro for o in queued if o.message
        ),
    }
    return await _send_page(request, member, Compose(kind=compose.kind), outcome=outcome)


def _single_request(org_id: int, compose: Compose) -> SendRequest:
    if compose.kind == "number":
        if not compose.number:
            raise InvalidField("Give the number to send to", {"field": "number"})
        phone = phones.normalise_full_number(compose.number, with_carrier=False)
        return SendRequest(org_id, compose.text, compose.sender or None, None, phone, False)
    contact_id = parse_id(compose.contact_id, "contact")
    return SendRequest(org_id, compose.text, compose.sender or None, contact_id, None, True)


async def _send_to_many(
    request: Request[Any, Any, Any], member: Member, compose: Compose
) -> list[BulkOutcome]:
    ids = await find_recipient_ids(console_of(request).db, member.org_id, compose)
    if len(ids) > MAX_CONSOLE_RECIPIENTS:
        raise InvalidField(
            f"More than {MAX_CONSOLE_RECIPIENTS:,} contacts match; the console sends to at most "
            f"{MAX_CONSOLE_RECIPIENTS:,} at once. Narrow the filter, or use a campaign or the API.",
            {"field": "recipients"},
        )
    if not ids:
        raise InvalidField("No contact matches, so there is nobody to send to")
    wanted = BulkSend(member.org_id, compose.text, compose.sender or None, contact_ids=tuple(ids))
    return await send_bulk_sms(sending_runtime_of(request).outbox, wanted)


async def _refuse(
    request: Request[Any, Any, Any], member: Member, compose: Compose, message: str
) -> Response[Any]:
    outbox = sending_runtime_of(request).outbox
    preview = await preview_message(console_of(request).db, outbox, member.org_id, compose)
    return await _send_page(request, member, compose, preview, error=message, status_code=400)


ROUTES = [send_page, preview_send, send_message]
