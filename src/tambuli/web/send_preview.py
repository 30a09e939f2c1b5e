"""What a composed SMS would be before it is sent: encoding, parts, the characters that force
UCS-2, the text personalised for a contact, the recipients and the cost. Every rule is the
messaging services' (segments, personalisation, prices): the page and its live counter ask
here, so the browser never holds a second copy."""

from __future__ import annotations

from dataclasses import dataclass, field

from tambuli.contacts import phones, selection
from tambuli.contacts import service as contacts
from tambuli.contacts.conditions import (
    Condition,
    ConditionGroup,
    Op,
    parse_conditions,
)
from tambuli.contacts.models import Contact, parse_id
from tambuli.db.engine import Database
from tambuli.errors import InvalidField, TambuliError
from tambuli.messaging.personalisation import has_variables, render_for_contact
from tambuli.messaging.segments import segment_message
from tambuli.messaging.sending import Outbox

# A console send to a group or a filter goes to at most this many contacts (one request);
# more is a campaign's or the API's work.
MAX_CONSOLE_RECIPIENTS = 1000
RECIPIENT_KINDS = ("number", "contact", "group", "filter")


@dataclass(frozen=True)
class Compose:
    """The compose form as typed."""

    kind: str = "number"
    number: str = ""
    contact_id: str = ""
    group_id: str = ""
    conditions: str = ""
    text: str = ""
    sender: str = ""
    preview_contact_id: str = ""


@dataclass
class Preview:
    """The composed message as it would be sent."""

    text: str
    encoding: str = "gsm7"
    parts: int = 0
    characters: int = 0
    # The characters that forced UCS-2, each once, in order of appearance.
    non_gsm: list[str] = field(default_factory=list)
    personalised_for: str = ""
    recipients: int = 0
    capped: bool = False
    price_per_part_micro: int | None = None
    cost_micro: int | None = None
    notes: list[str] = field(default_factory=list)


def read_compose(form: dict[str, str]) -> Compose:
    """The compose fields of a submitted form (absent ones empty)."""
    kind = form.get("kind", "number")
    return Compose(
        kind=kind if kind in RECIPIENT_KINDS else "number",
        number=form.get("number", "").strip(),
        contact_id=form.get("contact_id", "").strip(),
        group_id=form.get("group_id", "").strip(),
        conditions=form.get("conditions", ""),
        text=form.get("message", ""),
        sender=form.get("sender", "").strip(),
        preview_contact_id=form.get("preview_contact_id", "").strip(),
    )


async def find_recipient_ids(db: Database, org_id: int, compose: Compose) -> list[int]:
    """The contacts a group or filter send goes to, oldest first, at most one more than the
    cap (so the caller can tell the cap was passed)."""
    if compose.kind == "group":
        group_id = parse_id(compose.group_id, "group")
        wanted: ConditionGroup | None = ConditionGroup(
            any_of=False, items=(Condition("groups", Op.CONTAINS, group_id, "/0"),)
        )
    else:
        wanted = parse_conditions(compose.conditions)
        if wanted is None:
            raise InvalidField("Give at least one condition", {"field": "conditions"})
    return await selection.find_contact_ids_matching(
        db, org_id, wanted, limit=MAX_CONSOLE_RECIPIENTS + 1
    )


async def _contact(db: Database, org_id: int, text_id: str) -> Contact:
    return await contacts.get_contact(db, org_id, parse_id(text_id, "contact"))


async def preview_message(db: Database, outbox: Outbox, org_id: int, compose: Compose) -> Preview:
    """The preview of a composed message; problems become notes, never errors."""
    preview = Preview(text=compose.text)
    text = compose.text
    shown_contact: Contact | None = None
    destination: tuple[str, str] | None = None
    try:
        if compose.kind == "number" and compose.number:
            phone = phones.normalise_full_number(compose.number, with_carrier=False)
            destination, preview.recipients = (phone.region, phone.digits), 1
        elif compose.kind == "contact" and compose.contact_id:
            shown_contact = await _contact(db, org_id, compose.contact_id)
            destination, preview.recipients = (shown_contact.region, shown_contact.phone), 1
        elif compose.kind in ("group", "filter") and (compose.group_id or compose.conditions):
            ids = await find_recipient_ids(db, org_id, compose)
            preview.capped = len(ids) > MAX_CONSOLE_RECIPIENTS
            preview.recipients = min(len(ids), MAX_CONSOLE_RECIPIENTS)
            if ids:
                first = await contacts.get_contact(db, org_id, ids[0])
                destination = (first.region, first.phone)
                shown_contact = shown_contact or first
    except TambuliError as problem:
        preview.notes.append(problem.message)
    try:
        if compose.preview_contact_id and compose.kind != "contact":
            shown_contact = await _contact(db, org_id, compose.preview_contact_id)
    except TambuliError as problem:
        preview.notes.append(problem.message)
    if shown_contact is not None and compose.kind != "number" and has_variables(text):
        names = {f.id: f.name for f in await contacts.list_custom_fields(db, org_id)}
        text = render_for_contact(text, shown_contact, names)
        who = f"{shown_contact.first_name} {shown_contact.last_name}".strip()
        preview.personalised_for = f"{who or 'contact'} (ID {shown_contact.id})"
    if compose.kind == "number" and has_variables(text):
        preview.notes.append(
            "A send to a number goes as typed: choose a contact to fill in its variables."
        )
    preview.text = text
    _count(preview, text)
    if destination is not None and preview.parts:
        price = await outbox.prices.price_for(*destination)
        if price is None:
            preview.notes.append(f"There is no SMS price for +{destination[1]}")
        else:
            preview.price_per_part_micro = price
            preview.cost_micro = price * preview.parts * preview.recipients
    return preview


def _count(preview: Preview, text: str) -> None:
    preview.characters = len(text)
    if not text:
        return
    segments = segment_message(text)
    preview.encoding = segments.encoding.value
    preview.parts = segments.part_count
    seen: list[str] = []
    for found in segments.non_gsm_characters:
        if found.character not in seen:
            seen.append(found.character)
    preview.non_gsm = seen
