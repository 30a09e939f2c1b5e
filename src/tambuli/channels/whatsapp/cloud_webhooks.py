"""The Cloud API's webhooks: the signature, the subscription handshake, and the body's events.

Meta POSTs `{"object": "whatsapp_business_account", "entry": [{"changes": [{"field":
"messages", "value": {...}}]}]}` signed with the app secret in X-Hub-Signature-256, and
delivers it again (for days) until it is answered 200. Each `value` names the business number
(`metadata.display_phone_number`, `metadata.phone_number_id`) and carries `statuses` of
messages we sent, or `messages` a contact sent (with `contacts[].profile.name`).

Everything here is pure and never raises on a body's content: what cannot be read is skipped
and counted (`ParsedWebhook.skipped`), so one odd part never makes Meta deliver the rest again.
Inbound media arrive as IDs; cloud_media.InboundMediaFetcher fetches their bytes.

The webhook route's GET answers `answer_subscription(query, config.verify_token)` (the challenge
as text/plain, or 403 for None); its POST goes through cloud_inbox.read_webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tambuli.channels.secrets import Secret
from tambuli.channels.whatsapp.base import (
    InboundWhatsApp,
    Location,
    MediaKind,
    WhatsAppState,
    WhatsAppStatus,
)
from tambuli.channels.whatsapp.cloud_errors import describe_failure

SIGNATURE_HEADER = "X-Hub-Signature-256"
_SIGNATURE_PREFIX = "sha256="
_STATES = {state.value: state for state in WhatsAppState}
_MEDIA_KINDS = {kind.value: kind for kind in MediaKind}
# Media kinds whose message may carry a caption.
_CAPTIONED = frozenset({MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.DOCUMENT})


def verify_signature(body: bytes, signature: str | None, app_secret: Secret) -> bool:
    """Whether X-Hub-Signature-256 is the HMAC-SHA256 of the raw body under the app secret."""
    if not signature or not signature.startswith(_SIGNATURE_PREFIX):
        return False
    expected = hmac.new(app_secret.reveal().encode(), body, hashlib.sha256).hexdigest()
    given = signature[len(_SIGNATURE_PREFIX) :].strip().lower()
    return hmac.compare_digest(expected.encode(), given.encode("ascii", "replace"))


def sign_body(body: bytes, app_secret: Secret) -> str:
    """The X-Hub-Signature-256 value Meta sends with this body."""
    digest = hmac.new(app_secret.reveal().encode(), body, hashlib.sha256).hexdigest()
    return _SIGNATURE_PREFIX + digest


def answer_subscription(query: Mapping[str, str], verify_token: Secret) -> str | None:
    """The challenge to echo for Meta's subscription handshake; None to refuse it (403)."""
    mode = query.get("hub.mode")
    token = query.get("hub.verify_token")
    challenge = query.get("hub.challenge")
    if mode != "subscribe" or token is None or challenge is None:
        return None
    if not hmac.compare_digest(token.encode(), verify_token.reveal().encode()):
        return None
    return challenge


@dataclass(frozen=True)
class MediaRef:
    """A file a contact sent, before its bytes are fetched."""

    kind: MediaKind
    media_id: str
    content_type: str
    filename: str
    caption: str = ""


@dataclass(frozen=True)
class PendingInbound:
    """An inbound message as the webhook gave it: its media still to be fetched."""

    # The business number's phone-number-id: whose token fetches the media.
    phone_number_id: str
    message: InboundWhatsApp
    media: tuple[MediaRef, ...] = ()


@dataclass(frozen=True)
class ParsedWebhook:
    """What one webhook body carried, and how many of its parts were skipped."""

    statuses: tuple[WhatsAppStatus, ...] = ()
    inbound: tuple[PendingInbound, ...] = ()
    skipped: int = 0
    # Why each skipped part was skipped ("unknown status 'deleted'", …), for the log.
    reasons: tuple[str, ...] = field(default=(), compare=False)


def parse_webhook(body: bytes, channel: str) -> ParsedWebhook:
    """The statuses and inbound messages of a webhook body; never raises."""
    reader = _Reader(channel)
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        # ValueError covers bytes that are not UTF-8; RecursionError, absurdly deep nesting.
        reader.skip("not JSON")
        return reader.result()
    entries = document.get("entry") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        reader.skip("no entry list")
        return reader.result()
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            reader.skip("entry without changes")
            continue
        for change in changes:
            try:
                reader.read_change(change)
            except Exception as exc:
                # A case this reader did not foresee skips one change, not the whole body:
                # an error would make Meta deliver everything again, and fail again.
                reader.skip(f"unreadable change ({type(exc).__name__})")
    return reader.result()


class _Reader:
    """Collects what a body's changes carry; every odd part becomes a reason, not an error."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.statuses: list[WhatsAppStatus] = []
        self.inbound: list[PendingInbound] = []
        self.reasons: list[str] = []

    def skip(self, reason: str) -> None:
        """Count one part that could not be used."""
        self.reasons.append(reason[:200])

    def result(self) -> ParsedWebhook:
        """Everything read so far."""
        return ParsedWebhook(
            tuple(self.statuses), tuple(self.inbound), len(self.reasons), tuple(self.reasons)
        )

    def read_change(self, change: Any) -> None:
        """One `changes[]` item: statuses and messages for one business number."""
        if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
            self.skip("change without a value")
            return
        if change.get("field", "messages") != "messages":
            self.skip(f"field {_text(change.get('field'))!r} not handled")
            return
        value = change["value"]
        metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
        business = _digits(metadata.get("display_phone_number"))
        phone_number_id = _text(metadata.get("phone_number_id"))
        if not any(key in value for key in ("statuses", "messages", "errors")):
            self.skip("change with no statuses or messages")
        for key in ("statuses", "messages", "errors"):
            if value.get(key) is not None and not isinstance(value[key], list):
                self.skip(f"{key} is not a list")
        for status in _items(value, "statuses"):
            try:
                self.statuses.append(self._read_status(status))
            except _Unreadable as exc:
                self.skip(str(exc))
        for error in _items(value, "errors"):
            self.skip(
                f"webhook error {_text(error.get('code')) if isinstance(error, dict) else ''}"
            )
        names = _read_profile_names(value)
        for message in _items(value, "messages"):
            try:
                self.inbound.append(self._read_message(message, business, phone_number_id, names))
            except _Unreadable as exc:
                self.skip(str(exc))

    def _read_status(self, status: Any) -> WhatsAppStatus:
        if not isinstance(status, dict):
            raise _Unreadable("status is not an object")
        wamid = _required_text(status, "id", "status")
        raw_state = _text(status.get("status"))
        state = _STATES.get(raw_state)
        if state is None:
            raise _Unreadable(f"unknown status {raw_state!r}")
        error = ""
        if state == WhatsAppState.FAILED:
            errors = status.get("errors")
            first = errors[0] if isinstance(errors, list) and errors else None
            if isinstance(first, dict):
                code = first.get("code")
                title = _text(first.get("title")) or _text(first.get("message"))
                number = code if isinstance(code, int) and not isinstance(code, bool) else None
                error = describe_failure(number, title)
            else:
                error = describe_failure(None)
        return WhatsAppStatus(
            channel=self.channel,
            operator_message_id=wamid,
            state=state,
            error=error,
            at=_read_timestamp(status, "status"),
        )

    def _read_message(
        self, message: Any, business: str, phone_number_id: str, names: Mapping[str, str]
    ) -> PendingInbound:
        if not isinstance(message, dict):
            raise _Unreadable("message is not an object")
        wamid = _required_text(message, "id", "message")
        sender = _digits(message.get("from"))
        if not sender or not business:
            raise _Unreadable(f"message {wamid} without its numbers")
        kind = _text(message.get("type"))
        text, location, media = _read_content(message, kind, wamid)
        inbound = InboundWhatsApp(
            channel=self.channel,
            recipient=business,
            sender=sender,
            text=text,
            at=_read_timestamp(message, "message"),
            operator_event_id=wamid,
            location=location,
            profile_name=names.get(sender, ""),
        )
        return PendingInbound(phone_number_id, inbound, media)


def _read_content(
    message: Mapping[str, Any], kind: str, wamid: str
) -> tuple[str, Location | None, tuple[MediaRef, ...]]:
    """The text, location and media of one message by its type."""
    part = message.get(kind)
    if not isinstance(part, dict):
        raise _Unreadable(f"message {wamid} of type {kind!r} is not handled")
    if kind == "text":
        return _text(part.get("body")), None, ()
    if kind in _MEDIA_KINDS:
        media_kind = _MEDIA_KINDS[kind]
        media_id = _required_text(part, "id", f"{kind} of message {wamid}")
        content_type = _text(part.get("mime_type")) or "application/octet-stream"
        caption = _text(part.get("caption")) if media_kind in _CAPTIONED else ""
        filename = _text(part.get("filename")) or _name_file(media_id, content_type)
        # The caption is the message's words too, so polls and opt-outs read it like a text.
        return caption, None, (MediaRef(media_kind, media_id, content_type, filename, caption),)
    if kind == "location":
        latitude, longitude = part.get("latitude"), part.get("longitude")
        if not _is_number(latitude) or not _is_number(longitude):
            raise _Unreadable(f"location of message {wamid} without coordinates")
        name, address = _text(part.get("name")), _text(part.get("address"))
        return name, Location(str(latitude), str(longitude), name, address), ()
    if kind == "button":
        return _text(part.get("text")) or _text(part.get("payload")), None, ()
    if kind == "interactive":
        reply = part.get(_text(part.get("type")))
        if not isinstance(reply, dict):
            raise _Unreadable(f"interactive message {wamid} without its reply")
        return _text(reply.get("title")) or _text(reply.get("id")), None, ()
    raise _Unreadable(f"message {wamid} of type {kind!r} is not handled")


def _read_profile_names(value: Mapping[str, Any]) -> dict[str, str]:
    names = {}
    for contact in _items(value, "contacts"):
        if not isinstance(contact, dict):
            continue
        profile = contact.get("profile")
        name = _text(profile.get("name")) if isinstance(profile, dict) else ""
        if name:
            names[_digits(contact.get("wa_id"))] = name
    return names


class _Unreadable(Exception):
    """A part of the body that cannot become a status or a message."""


def _items(value: Mapping[str, Any], key: str) -> list[Any]:
    found = value.get(key)
    return found if isinstance(found, list) else []


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    return str(value) if isinstance(value, str | int) else ""


def _required_text(part: Mapping[str, Any], key: str, what: str) -> str:
    value = _text(part.get(key))
    if not value:
        raise _Unreadable(f"{what} without {key}")
    return value


def _digits(value: Any) -> str:
    # display_phone_number may come formatted ("+1 555-078-3881"); numbers are stored bare.
    return "".join(ch for ch in _text(value) if ch.isdigit())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool) and _is_float(value)


def _is_float(value: int | float | str) -> bool:
    try:
        number = float(value)
    except ValueError:
        return False
    return number == number and abs(number) <= 180


def _read_timestamp(part: Mapping[str, Any], what: str) -> datetime:
    raw = part.get("timestamp")
    try:
        seconds = int(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else None
    except ValueError:
        seconds = None
    if seconds is None or not 0 <= seconds < 32_503_680_000:
        raise _Unreadable(f"{what} {_text(part.get('id'))} without a valid timestamp")
    return datetime.fromtimestamp(seconds, UTC)


def _name_file(media_id: str, content_type: str) -> str:
    """A file name for media sent without one: its ID and the extension of its type."""
    extension = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ""
    return f"whatsapp-{media_id}{extension}"
