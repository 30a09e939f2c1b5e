"""The WhatsApp compose form: what was typed, the send request it becomes, and its preview
(the business number, the recipient's 24-hour window, the text as the contact gets it, the
cost). Every rule is the WhatsApp services': the preview only reads, and a send goes through
send_whatsapp, the service behind POST /v1/whatsapp/contact."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tambuli.channels.whatsapp.base import MediaKind
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import Contact, parse_id
from tambuli.db.engine import Database
from tambuli.errors import FileNotFound, InvalidField, TambuliError
from tambuli.files import service as stored_files
from tambuli.files.models import StoredFile
from tambuli.messaging.personalisation import render_for_contact
from tambuli.whatsapp import numbers
from tambuli.whatsapp.models import fill_template
from tambuli.whatsapp.numbers import BusinessNumber, StoredTemplate
from tambuli.whatsapp.sending import WhatsAppRequest
from tambuli.whatsapp.window import ServiceWindow, read_service_window

RECIPIENT_KINDS = ("contact", "number")
MODES = ("template", "text")
# Files of these types go as that kind of media; any other file goes as a document.
_KIND_OF_TYPE = {"image/": MediaKind.IMAGE, "audio/": MediaKind.AUDIO, "video/": MediaKind.VIDEO}


@dataclass(frozen=True)
class WhatsAppCompose:
    """The WhatsApp compose form as typed."""

    sender: str = ""
    kind: str = "contact"
    number: str = ""
    contact_id: str = ""
    mode: str = "template"
    text: str = ""
    # "name|language" of a registered template.
    template: str = ""
    # The template's parameters, one a line.
    parameters: str = ""
    media: str = ""

    @property
    def parameter_list(self) -> list[str]:
        """The parameters as the request's `content` lists them."""
        return [line.strip() for line in self.parameters.splitlines() if line.strip()]

    def template_key(self) -> tuple[str, str] | None:
        """(name, language) of the chosen template, None when none is chosen."""
        name, _, language = self.template.partition("|")
        return (name, language) if name and language else None


@dataclass(frozen=True)
class MediaShown:
    """A file a message carries, with its record when the organization still has it."""

    kind: str
    filename: str
    file: StoredFile | None


@dataclass(frozen=True)
class BusinessLine:
    """A business number of the organization with its templates (the form's choices)."""

    number: BusinessNumber
    templates: list[StoredTemplate]


@dataclass
class WhatsAppPreview:
    """The composed message as the chosen recipient would get it."""

    text: str = ""
    template: StoredTemplate | None = None
    recipient: str = ""
    window: ServiceWindow | None = None
    price_micro: int | None = None
    media: MediaShown | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def template_required(self) -> bool:
        """Whether only a template may go to the chosen recipient now."""
        return self.window is not None and not self.window.open


def read_whatsapp_compose(form: dict[str, str]) -> WhatsAppCompose:
    """The compose fields of a submitted form (absent ones empty)."""
    kind, mode = form.get("kind", "contact"), form.get("mode", "template")
    return WhatsAppCompose(
        sender=form.get("sender", "").strip(),
        kind=kind if kind in RECIPIENT_KINDS else "contact",
        number=form.get("number", "").strip(),
        contact_id=form.get("contact_id", "").strip(),
        mode=mode if mode in MODES else "template",
        text=form.get("message", ""),
        template=form.get("template", "").strip(),
        parameters=form.get("parameters", ""),
        media=form.get("media", "").strip(),
    )


async def list_business_lines(db: Database, org_id: int) -> list[BusinessLine]:
    """The organization's business numbers with their templates."""
    return [
        BusinessLine(n, await numbers.list_templates(db, n.number))
        for n in await numbers.list_numbers(db, org_id)
    ]


def _media_kind(content_type: str) -> MediaKind:
    for prefix, kind in _KIND_OF_TYPE.items():
        if content_type.startswith(prefix):
            return kind
    return MediaKind.DOCUMENT


async def build_request(db: Database, org_id: int, compose: WhatsAppCompose) -> WhatsAppRequest:
    """The send request of the form, as the API builds one from its body."""
    media: dict[MediaKind, str] = {}
    if compose.media:
        found = await stored_files.get_file(db, org_id, compose.media)
        media[_media_kind(found.content_type)] = found.filename
    content: dict[str, object] | None = None
    if compose.mode == "template":
        chosen = compose.template_key()
        if chosen is None:
            raise InvalidField("Choose a template", {"field": "template"})
        content = {"name": chosen[0], "language": chosen[1], "parameters": compose.parameter_list}
    if compose.kind == "number":
        if not compose.number:
            raise InvalidField("Give the number to send to", {"field": "number"})
        phone = phones.normalise_full_number(compose.number)
        return WhatsAppRequest(org_id, compose.sender, _text(compose), None, phone, media, content)
    contact_id = parse_id(compose.contact_id, "contact")
    return WhatsAppRequest(org_id, compose.sender, _text(compose), contact_id, None, media, content)


def _text(compose: WhatsAppCompose) -> str:
    # A template message's words are the template's: typed text is not sent with it.
    return compose.text if compose.mode == "text" else ""


def _find_template(
    lines: list[BusinessLine], compose: WhatsAppCompose
) -> tuple[BusinessLine | None, StoredTemplate | None]:
    line = next((x for x in lines if x.number.number == compose.sender), None)
    chosen = compose.template_key()
    if line is None or chosen is None:
        return line, None
    found = next((t for t in line.templates if (t.name, t.language) == chosen), None)
    return line, found


async def preview_whatsapp(
    db: Database,
    now: datetime,
    org_id: int,
    lines: list[BusinessLine],
    compose: WhatsAppCompose,
) -> WhatsAppPreview:
    """The preview of a composed message at `now`; problems become notes, never errors."""
    preview = WhatsAppPreview()
    contact: Contact | None = None
    try:
        if compose.kind == "contact" and compose.contact_id:
            contact = await contacts.get_contact(
                db, org_id, parse_id(compose.contact_id, "contact")
            )
            who = f"{contact.first_name} {contact.last_name}".strip()
            preview.recipient = f"{who or 'Contact'} (+{contact.phone})"
            preview.window = await read_service_window(db, now, org_id, contact_id=contact.id)
        elif compose.kind == "number" and compose.number:
            phone = phones.normalise_full_number(compose.number, with_carrier=False)
            preview.recipient = f"+{phone.digits}"
            preview.window = await read_service_window(db, now, org_id, phone_digits=phone.digits)
    except TambuliError as problem:
        preview.notes.append(problem.message)
    line, template = _find_template(lines, compose)
    if line is not None:
        preview.price_micro = line.number.price_micro
    if compose.media:
        try:
            found = await stored_files.get_file(db, org_id, compose.media)
            preview.media = MediaShown(_media_kind(found.content_type).value, found.filename, found)
        except FileNotFound as problem:
            preview.notes.append(problem.message)
    names = {f.id: f.name for f in await contacts.list_custom_fields(db, org_id)} if contact else {}
    if compose.mode == "template":
        _preview_template(preview, compose, line, template, contact, names)
    else:
        preview.text = render_for_contact(compose.text, contact, names) if contact else compose.text
    return preview


def _preview_template(
    preview: WhatsAppPreview,
    compose: WhatsAppCompose,
    line: BusinessLine | None,
    template: StoredTemplate | None,
    contact: Contact | None,
    names: dict[int, str],
) -> None:
    if compose.template_key() is None:
        return
    if template is None:
        shown = f"+{line.number.number}" if line else "the chosen number"
        preview.notes.append(f"This template is not registered for {shown}.")
        return
    preview.template = template
    given = compose.parameter_list
    if contact is not None:
        given = [render_for_contact(p, contact, names) for p in given]
    if len(given) == template.parameter_count:
        preview.text = fill_template(template.body, tuple(given))
    else:
        preview.text = template.body
        preview.notes.append(
            f"{template.name} takes {template.parameter_count} parameter"
            f"{'' if template.parameter_count == 1 else 's'}, one a line; {len(given)} given."
        )
