"""The rules of a campaign step sent on WhatsApp: its business number, templates and media.

A step's `channel` is "sms" (the default) or "whatsapp". A WhatsApp step sends from `from` (a
business number of the organization) a free-form `message`, a `template` or both, by language
as SMS texts are, and may carry one File (`imageFile`, `audioFile`, `videoFile` or
`documentFile`). With both, the message goes to contacts whose 24-hour window is open and the
template to the others; with only a message, a contact whose window is closed misses the step
(docs/decisions.md). Whether the number, templates and files exist is checked against the
database when the campaign is saved (readiness.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tambuli.channels.whatsapp.base import MediaKind
from tambuli.errors import InvalidField, InvalidTemplateContent, InvalidWhatsAppMedia
from tambuli.whatsapp.models import TemplateRequest, check_business_number, parse_template_content

DEFAULT_LANGUAGE = "default"
MEDIA_KEYS: dict[str, MediaKind] = {
    "imageFile": MediaKind.IMAGE,
    "audioFile": MediaKind.AUDIO,
    "videoFile": MediaKind.VIDEO,
    "documentFile": MediaKind.DOCUMENT,
}
WHATSAPP_KEYS = frozenset({"from", "template", *MEDIA_KEYS})


class StepChannel(StrEnum):
    """How a step reaches its contacts."""

    SMS = "sms"
    WHATSAPP = "whatsapp"


@dataclass(frozen=True)
class WhatsAppStep:
    """What a WhatsApp step sends besides its free-form message."""

    sender: str  # the business number's digits
    # By language, with a "default"; empty when the step sends only free-form messages.
    templates: Mapping[str, TemplateRequest]
    media: Mapping[MediaKind, str]


def read_channel(raw: object, where: str) -> StepChannel:
    """The step's channel; SMS when it names none."""
    if raw is None:
        return StepChannel.SMS
    if raw not in {c.value for c in StepChannel}:
        raise InvalidField(
            f'{where}.channel must be "sms" or "whatsapp"', {"field": f"{where}.channel"}
        )
    return StepChannel(str(raw))


def refuse_whatsapp_fields(given: Mapping[str, Any], where: str) -> None:
    """An SMS step names no business number, template or File."""
    extra = sorted(WHATSAPP_KEYS & given.keys())
    if extra:
        raise InvalidField(
            f'{where}.{extra[0]} is only for WhatsApp steps ("channel": "whatsapp")',
            {"field": f"{where}.{extra[0]}"},
        )


def parse_whatsapp_step(given: Mapping[str, Any], where: str, has_message: bool) -> WhatsAppStep:
    """Check a WhatsApp step's own fields; `has_message`: it has a free-form message."""
    raw_sender = given.get("from")
    if not isinstance(raw_sender, str) or not raw_sender.strip():
        raise InvalidField(
            f'{where}.from: a WhatsApp step needs the business number it sends from ("from")',
            {"field": f"{where}.from"},
        )
    try:
        sender = check_business_number(raw_sender)
    except InvalidField as exc:
        raise InvalidField(f"{where}.from: {exc.message}", {"field": f"{where}.from"}) from None
    templates = _parse_templates(given.get("template"), f"{where}.template")
    if not templates and not has_message:
        raise InvalidField(
            f"{where}: a WhatsApp step needs a message, a template or both",
            {"field": f"{where}.message"},
        )
    return WhatsAppStep(sender, templates, _parse_media(given, where))


def choose_template(templates: Mapping[str, TemplateRequest], language: str) -> TemplateRequest:
    """The template for a contact's language (compared without case), else the default."""
    wanted = language.strip().casefold()
    if wanted:
        for key, template in templates.items():
            if key.casefold() == wanted:
                return template
    return templates[DEFAULT_LANGUAGE]


def template_content(template: TemplateRequest) -> dict[str, Any]:
    """A template as a send request's `content`."""
    return {
        "name": template.name,
        "language": template.language,
        "parameters": list(template.parameters),
    }


def _parse_templates(raw: object, where: str) -> dict[str, TemplateRequest]:
    """One template (the default) or templates by language with a "default"."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not raw:
        raise InvalidTemplateContent(
            f'{where} must be {{"name", "language", "parameters"}} or such objects by language',
            {"field": where},
        )
    by_language = {DEFAULT_LANGUAGE: raw} if "name" in raw else dict(raw)
    templates: dict[str, TemplateRequest] = {}
    for language, given in by_language.items():
        if not isinstance(language, str) or not language.strip():
            raise InvalidField(f"{where}: languages must be non-empty names", {"field": where})
        try:
            templates[language] = parse_template_content(
                dict(given) if isinstance(given, Mapping) else given
            )
        except InvalidTemplateContent as exc:
            raise InvalidTemplateContent(
                f"{where}.{language}: {exc.message}", {"field": f"{where}.{language}"}
            ) from None
    if DEFAULT_LANGUAGE not in templates:
        raise InvalidTemplateContent(f'{where} needs a "default" template', {"field": where})
    return templates


def _parse_media(given: Mapping[str, Any], where: str) -> dict[MediaKind, str]:
    media: dict[MediaKind, str] = {}
    for key, kind in MEDIA_KEYS.items():
        if key not in given:
            continue
        value = given[key]
        if not isinstance(value, str) or not value.strip():
            raise InvalidWhatsAppMedia(
                f"{where}.{key} must name an uploaded File", {"field": f"{where}.{key}"}
            )
        media[kind] = value.strip()
    if len(media) > 1:
        raise InvalidWhatsAppMedia(
            f"{where}: a WhatsApp message carries one file: give one of " + ", ".join(MEDIA_KEYS),
            {"field": where},
        )
    return media
