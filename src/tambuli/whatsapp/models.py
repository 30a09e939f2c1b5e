"""Pure rules of WhatsApp: statuses, the 24-hour window, media limits, templates, numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tambuli.channels.whatsapp.base import MediaKind
from tambuli.errors import InvalidField, InvalidTemplateContent, InvalidWhatsAppMedia

# engageSPARK's WhatsApp message IDs start "WA"; the rest is as for SMS.
MESSAGE_ID_PREFIX = "WA"
# WhatsApp lets a business answer freely for this long after the contact's last message.
SERVICE_WINDOW = timedelta(hours=24)
# Charged per message unless the operator sets a price for the number (docs/decisions.md).
DEFAULT_PRICE_MICRO = 10_000
MAX_TEMPLATE_PARAMETERS = 100
MAX_PARAMETER_LENGTH = 1024
MAX_TEMPLATE_NAME = 512
_PARAMETER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]+$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
MB = 1024 * 1024


@dataclass(frozen=True)
class NewWhatsApp:
    """An outbound message that passed every rule: what its row is made of (whatsapp/store.py
    adds the queue's columns)."""

    org_id: int
    # None until the batch that writes it gives it a contact (a number without one yet).
    contact_id: int | None
    sender: str  # the business number's digits
    recipient: str
    body: str
    # The expanded template, or None for a free-form message.
    content: dict[str, Any] | None
    price_micro: int
    created_at: datetime
    deadline_at: datetime
    client_ref: str = ""
    client_dedup: str = ""
    client_push_url: str = ""
    campaign_run_id: int | None = None


@dataclass(frozen=True)
class MediaRule:
    """What WhatsApp accepts for one kind of media."""

    content_types: frozenset[str]  # empty: any type
    max_bytes: int


# WhatsApp's own limits per kind (Cloud API documentation).
MEDIA_RULES: dict[MediaKind, MediaRule] = {
    MediaKind.IMAGE: MediaRule(frozenset({"image/jpeg", "image/png"}), 5 * MB),
    MediaKind.AUDIO: MediaRule(
        frozenset({"audio/aac", "audio/mp4", "audio/mpeg", "audio/amr", "audio/ogg"}), 16 * MB
    ),
    MediaKind.VIDEO: MediaRule(frozenset({"video/mp4", "video/3gpp"}), 16 * MB),
    MediaKind.DOCUMENT: MediaRule(frozenset(), 100 * MB),
}


def check_media(kind: MediaKind, filename: str, content_type: str, size: int) -> None:
    """Refuse a file WhatsApp would not take as this kind of media."""
    rule = MEDIA_RULES[kind]
    if rule.content_types and content_type not in rule.content_types:
        allowed = ", ".join(sorted(rule.content_types))
        raise InvalidWhatsAppMedia(
            f"{kind.value}: {filename} is {content_type}; WhatsApp takes {allowed}",
            {"field": kind.value},
        )
    if size > rule.max_bytes:
        raise InvalidWhatsAppMedia(
            f"{kind.value}: {filename} is larger than WhatsApp's {rule.max_bytes // MB} MB",
            {"field": kind.value},
        )


def within_service_window(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether a free-form message may go to a contact who last wrote at `last_inbound_at`."""
    return last_inbound_at is not None and now - last_inbound_at < SERVICE_WINDOW


def count_template_parameters(body: str) -> int:
    """How many parameters a template body has: its highest {{n}}, which must run from 1 up."""
    numbers = sorted({int(n) for n in _PARAMETER.findall(body)})
    if numbers != list(range(1, len(numbers) + 1)):
        raise InvalidTemplateContent("A template's parameters must be {{1}}, {{2}}, … without gaps")
    return len(numbers)


def fill_template(body: str, parameters: tuple[str, ...]) -> str:
    """The template body with its parameters filled in."""
    return _PARAMETER.sub(lambda m: parameters[int(m.group(1)) - 1], body)


def check_template_name(name: str) -> str:
    """A template name as WhatsApp writes them: lower-case letters, digits and underscores."""
    clean = name.strip()
    if not clean or len(clean) > MAX_TEMPLATE_NAME or not _TEMPLATE_NAME.match(clean):
        raise InvalidField(
            "A template name is lower-case letters, digits and underscores", {"field": "name"}
        )
    return clean


def check_language(language: str) -> str:
    """A template language code as WhatsApp writes them ("en", "en_US", "fil")."""
    clean = language.strip()
    if not _LANGUAGE.match(clean):
        raise InvalidField(
            'A template language is a code like "en" or "en_US"', {"field": "language"}
        )
    return clean


def check_business_number(number: str) -> str:
    """A business number's digits, international form without "+"."""
    digits = number.strip().removeprefix("+")
    if not digits.isascii() or not digits.isdigit() or not 8 <= len(digits) <= 15:
        raise InvalidField("A WhatsApp Business number is 8 to 15 digits", {"field": "number"})
    return digits


@dataclass(frozen=True)
class TemplateRequest:
    """The template a send request names in `content`."""

    name: str
    language: str
    parameters: tuple[str, ...]


def parse_template_content(content: object) -> TemplateRequest:
    """The `content` of a send request: {"name", "language", "parameters": [strings]}."""
    if not isinstance(content, dict):
        raise InvalidTemplateContent(
            'content must be an object: {"name", "language", "parameters"}'
        )
    unknown = set(content) - {"name", "language", "parameters"}
    if unknown:
        raise InvalidTemplateContent(f"content: unknown field {sorted(unknown)[0]!r}")
    name, language = content.get("name"), content.get("language")
    if not isinstance(name, str) or not isinstance(language, str):
        raise InvalidTemplateContent('content needs "name" and "language" as strings')
    raw = content.get("parameters", [])
    if not isinstance(raw, list) or not all(isinstance(p, str | int) for p in raw):
        raise InvalidTemplateContent("content.parameters must be a list of strings")
    if len(raw) > MAX_TEMPLATE_PARAMETERS:
        raise InvalidTemplateContent(f"At most {MAX_TEMPLATE_PARAMETERS} parameters")
    parameters = tuple(str(p) for p in raw)
    for value in parameters:
        if not value.strip() or len(value) > MAX_PARAMETER_LENGTH or "\x00" in value:
            raise InvalidTemplateContent(
                f"Each parameter is 1 to {MAX_PARAMETER_LENGTH} characters of text"
            )
    return TemplateRequest(name.strip(), language.strip(), parameters)
