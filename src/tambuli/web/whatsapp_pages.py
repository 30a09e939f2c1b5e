"""WhatsApp in the message log: the list with the SMS log's filters, each message with its
status timeline (queued, handed off, sent, delivered, read or failed), its media and location,
and the organization's business numbers with their templates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from tambuli.channels.whatsapp.base import WhatsAppState
from tambuli.contacts import service as contacts
from tambuli.db.engine import Database
from tambuli.errors import ContactNotFound, FileNotFound
from tambuli.files import service as stored_files
from tambuli.files.models import StoredFile
from tambuli.messaging.models import Direction, MessageStatus
from tambuli.organizations.models import Role
from tambuli.web.access import require_member
from tambuli.web.context import console_of
from tambuli.web.log_filters import LOG_REQUEST, LogRequest, read_log_page
from tambuli.web.message_pages import REFRESH_SECONDS
from tambuli.web.rendering import render_page
from tambuli.web.send_pages import FRAGMENT_HEADER
from tambuli.web.whatsapp_compose import MediaShown
from tambuli.webhooks import service as webhooks
from tambuli.whatsapp import listing, numbers
from tambuli.whatsapp.views import StoredWhatsApp

# A delivered message is watched this long for its read status: read receipts may be off on
# the handset, so it may never come, and the page should not refresh for ever.
READ_WATCH = timedelta(minutes=2)


@dataclass(frozen=True)
class WhatsAppRow:
    """A message as the log and its page show it."""

    message: StoredWhatsApp
    status: str
    reason: str
    media: list[MediaShown]

    @property
    def map_link(self) -> str:
        """An OpenStreetMap link to the location the contact shared ("" for none)."""
        where = self.message.location
        if not where:
            return ""
        lat, lon = where.get("latitude", ""), where.get("longitude", "")
        return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=16/{lat}/{lon}"


@dataclass(frozen=True)
class StatusStep:
    """One step of a message's way; `at` None when its time is not recorded."""

    at: datetime | None
    what: str
    detail: str = ""
    tone: str = ""


def describe_whatsapp_status(message: StoredWhatsApp) -> str:
    """One word: queued, sent, delivered, read, failed or received."""
    if message.direction is Direction.INGRESS:
        return "received"
    if message.status is MessageStatus.FAILED or message.state == WhatsAppState.FAILED:
        return "failed"
    if message.read_at is not None or message.state == WhatsAppState.READ:
        return "read"
    if message.state == WhatsAppState.DELIVERED:
        return "delivered"
    return "sent" if message.status is MessageStatus.ACCEPTED else "queued"


def is_whatsapp_in_flight(message: StoredWhatsApp, now: datetime) -> bool:
    """Whether a status may still come soon enough for a page to keep looking."""
    status = describe_whatsapp_status(message)
    if status in ("received", "failed", "read"):
        return False
    if status == "delivered":
        return message.delivered_at is not None and now < message.delivered_at + READ_WATCH
    return status == "queued" or (message.deadline_at or message.created_at) > now


async def _rows(db: Database, org_id: int, messages: list[StoredWhatsApp]) -> list[WhatsAppRow]:
    names = sorted({filename for m in messages for _, filename in m.media})
    found: dict[str, StoredFile | None] = {}
    for name in names:
        try:
            found[name] = await stored_files.get_file(db, org_id, name)
        except FileNotFound:
            found[name] = None  # deleted since: the name is still shown
    return [
        WhatsAppRow(
            m,
            describe_whatsapp_status(m),
            m.error or m.delivery_error,
            [MediaShown(kind.value, name, found[name]) for kind, name in m.media],
        )
        for m in messages
    ]


def status_steps(message: StoredWhatsApp) -> list[StatusStep]:
    """What happened to a message, in order."""
    if message.direction is Direction.INGRESS:
        return [StatusStep(message.created_at, "Received", f"on +{message.recipient}", "ok")]
    steps = [StatusStep(message.created_at, "Queued", "template" if message.content else "text")]
    if message.handed_at is not None:
        steps.append(StatusStep(message.handed_at, "Handed off", f"attempt {message.attempts}"))
    elif message.attempts and message.status is MessageStatus.QUEUED:
        steps.append(StatusStep(None, "Waiting to retry", f"{message.attempts} attempt(s) so far"))
    for at, what in (
        (message.sent_at, "Sent"),
        (message.delivered_at, "Delivered to the phone"),
        (message.read_at, "Read"),
    ):
        if at is not None:
            steps.append(StatusStep(at, what, tone="ok"))
    if describe_whatsapp_status(message) == "failed":
        reason = message.error or message.delivery_error or "no reason given"
        steps.append(StatusStep(message.failed_at, "Failed", reason, "failed"))
    # In the order things happen: a provider's "sent" may carry a time before our own record
    # of the hand-off.
    return steps


@get("/orgs/{org_id:int}/whatsapp", include_in_schema=False, dependencies=LOG_REQUEST)
async def whatsapp_log_page(
    request: Request[Any, Any, Any],
    org_id: FromPath[int],
    log_request: NamedDependency[LogRequest],
) -> Response[Any]:
    """WhatsApp messages, newest first, 50 a page, with the SMS log's filters."""
    member = await require_member(request, org_id, Role.VIEWER)
    console = console_of(request)
    query = log_request.query
    found = await read_log_page(console.db, member.org_id, log_request, listing.list_messages_after)
    now = console.clock.now()
    fragment = bool(request.headers.get(FRAGMENT_HEADER))
    return await render_page(
        request,
        "whatsapp_rows.html" if fragment else "whatsapp_log.html",
        status_code=400 if found.error else 200,
        member=member,
        query=query,
        rows=await _rows(console.db, member.org_id, found.shown),
        next_link=query.link(found.next_after) if found.next_after else "",
        first_page=not log_request.after,
        error=found.error,
        in_flight=any(is_whatsapp_in_flight(m, now) for m in found.shown),
        refresh_seconds=REFRESH_SECONDS,
    )


@get("/orgs/{org_id:int}/whatsapp/numbers", include_in_schema=False)
async def whatsapp_numbers_page(
    request: Request[Any, Any, Any], org_id: FromPath[int]
) -> Response[Any]:
    """The organization's WhatsApp Business numbers and their templates (the operator registers
    them with `tambuli whatsapp numbers|templates`)."""
    member = await require_member(request, org_id, Role.VIEWER)
    db = console_of(request).db
    registered = await numbers.list_numbers(db, member.org_id)
    templates = {n.number: await numbers.list_templates(db, n.number) for n in registered}
    return await render_page(
        request, "whatsapp_numbers.html", member=member, numbers=registered, templates=templates
    )


@get("/orgs/{org_id:int}/whatsapp/{message_id:str}", include_in_schema=False)
async def whatsapp_message_page(
    request: Request[Any, Any, Any], org_id: FromPath[int], message_id: FromPath[str]
) -> Response[Any]:
    """One WhatsApp message: its facts, media, location and status timeline, and its pushes."""
    member = await require_member(request, org_id, Role.VIEWER)
    console = console_of(request)
    message = await listing.get_message(console.db, member.org_id, message_id)
    [row] = await _rows(console.db, member.org_id, [message])
    pushes = await webhooks.list_pushes_about(console.db, member.org_id, message.message_id)
    contact_name = ""
    if message.contact_id is not None:
        try:
            found = await contacts.get_contact(console.db, member.org_id, message.contact_id)
            contact_name = f"{found.first_name} {found.last_name}".strip()
        except ContactNotFound:
            pass  # deleted since: its ID is still shown
    fragment = bool(request.headers.get(FRAGMENT_HEADER))
    return await render_page(
        request,
        "whatsapp_detail.html" if fragment else "whatsapp_message.html",
        member=member,
        row=row,
        steps=status_steps(message),
        pushes=pushes,
        contact_name=contact_name,
        in_flight=is_whatsapp_in_flight(message, console.clock.now()),
        refresh_seconds=REFRESH_SECONDS,
    )


ROUTES = [whatsapp_log_page, whatsapp_numbers_page, whatsapp_message_page]
