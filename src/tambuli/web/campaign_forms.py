"""The campaign editor's form: read from a definition or a POST, and turned back into the
definition document the API takes (so its checks and error texts are the API's)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tambuli.campaigns.delays import WEEKDAYS
from tambuli.campaigns.models import POLL_KEYS
from tambuli.campaigns.whatsapp_steps import MEDIA_KEYS

DEFAULT_LANGUAGE = "default"
# Poll defaults shown in a new question's fields (the definition's own defaults).
DEFAULT_TIMEOUT_VALUE = "24"
DEFAULT_TIMEOUT_UNIT = "hour"
DEFAULT_MAX_RETRIES = "2"
# More steps than the definition allows are refused by it; this only bounds the form's loop.
MAX_FORM_STEPS = 100
MAX_FORM_LANGUAGES = 20
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_DIGITS = re.compile(r"-?[0-9]{1,12}")


@dataclass
class StepForm:
    """One step's fields, as typed (texts, so a wrong value comes back as it was typed)."""

    unit: str = ""
    value: str = ""
    time: str = ""
    zone: str = ""
    days: str = ""
    at: str = ""
    relative: str = ""
    before: bool = False
    # (language, text); the first is the default text.
    texts: list[tuple[str, str]] = field(default_factory=lambda: [(DEFAULT_LANGUAGE, "")])
    # A drip step asks a question when ticked; every poll step does.
    question: bool = False
    choices: str = ""
    retry: str = ""
    timeout_value: str = DEFAULT_TIMEOUT_VALUE
    timeout_unit: str = DEFAULT_TIMEOUT_UNIT
    on_timeout: str = "next"
    max_retries: str = DEFAULT_MAX_RETRIES
    # "sms" or "whatsapp"; a WhatsApp step's number, default template and File.
    channel: str = "sms"
    wa_from: str = ""
    template_name: str = ""
    template_language: str = ""
    # One parameter a line.
    template_parameters: str = ""
    media_kind: str = ""
    media_file: str = ""
    # Templates in other languages, kept as JSON: the form edits only the default one.
    other_templates: str = ""


@dataclass
class CampaignForm:
    """The editor's fields."""

    name: str = ""
    kind: str = "drip"
    sender: str = ""
    open_for_subscriptions: bool = True
    window_from: str = ""
    window_until: str = ""
    reminder_arg: str = ""
    reminder_field: str = ""
    steps: list[StepForm] = field(default_factory=lambda: [StepForm()])


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _step_form(raw: Mapping[str, Any]) -> StepForm:
    delay = raw.get("delay") or {}
    message = raw.get("message")
    texts = message if isinstance(message, Mapping) else {DEFAULT_LANGUAGE: _text(message)}
    ordered = [(DEFAULT_LANGUAGE, _text(texts.get(DEFAULT_LANGUAGE)))]
    ordered += [(str(k), _text(v)) for k, v in texts.items() if k != DEFAULT_LANGUAGE]
    days = delay.get("daysOfWeek") or {}
    timeout = raw.get("timeout") or {}
    retry = raw.get("retry")
    return StepForm(
        unit=_text(delay.get("unit")),
        value=_text(delay.get("value")),
        time=_text(delay.get("time")),
        zone=_text(delay.get("timezone") or delay.get("country")),
        days=", ".join(d for d in WEEKDAYS if isinstance(days, Mapping) and days.get(d)),
        at=_text(delay.get("at")),
        relative=_text(delay.get("relative")),
        before=raw.get("before") is True,
        texts=ordered,
        question=bool(POLL_KEYS & raw.keys()),
        choices="\n".join(_choice_line(c) for c in raw.get("choices") or []),
        retry=_text(retry.get(DEFAULT_LANGUAGE) if isinstance(retry, Mapping) else retry),
        timeout_value=_text(timeout.get("value", DEFAULT_TIMEOUT_VALUE)),
        timeout_unit=_text(timeout.get("unit", DEFAULT_TIMEOUT_UNIT)),
        on_timeout=_text(raw.get("onTimeout", "next")),
        max_retries=_text(raw.get("maxRetries", DEFAULT_MAX_RETRIES)),
        **_whatsapp_fields(raw),
    )


def _whatsapp_fields(raw: Mapping[str, Any]) -> dict[str, str]:
    """A WhatsApp step's fields for the form (none for an SMS step)."""
    if raw.get("channel") != "whatsapp":
        return {}
    given = raw.get("template")
    templates = dict(given) if isinstance(given, Mapping) else {}
    if "name" in templates:
        templates = {DEFAULT_LANGUAGE: templates}
    default = templates.pop(DEFAULT_LANGUAGE, None)
    default = default if isinstance(default, Mapping) else {}
    kind, filename = next(
        ((key.removesuffix("File"), _text(raw[key])) for key in MEDIA_KEYS if key in raw),
        ("", ""),
    )
    return {
        "channel": "whatsapp",
        "wa_from": _text(raw.get("from")),
        "template_name": _text(default.get("name")),
        "template_language": _text(default.get("language")),
        "template_parameters": "\n".join(_text(p) for p in default.get("parameters") or []),
        "media_kind": kind,
        "media_file": filename,
        "other_templates": json.dumps(templates, ensure_ascii=False) if templates else "",
    }


def _choice_line(choice: object) -> str:
    if isinstance(choice, Mapping):
        words = ", ".join(str(w) for w in choice.get("words") or [])
        return f"{choice.get('value', '')}: {words}" if words else _text(choice.get("value"))
    return _text(choice)


def form_from_definition(
    name: str, kind: str, open_for_subscriptions: bool, definition: Mapping[str, Any]
) -> CampaignForm:
    """The editor's fields for a stored campaign."""
    window = definition.get("sendingWindow") or {}
    reminder = definition.get("reminderDate") or {}
    steps = [_step_form(s) for s in definition.get("steps") or [] if isinstance(s, Mapping)]
    return CampaignForm(
        name=name,
        kind=kind,
        sender=_text(definition.get("sender")),
        open_for_subscriptions=open_for_subscriptions,
        window_from=_text(window.get("from")),
        window_until=_text(window.get("until")),
        reminder_arg=_text(reminder.get("arg")),
        reminder_field=_text(reminder.get("customField")),
        steps=steps or [StepForm()],
    )


def _count(form: Mapping[str, Any], name: str, most: int) -> int:
    raw = _text(form.get(name)).strip()
    return min(int(raw), most) if raw.isdigit() else 0


def form_from_post(form: Mapping[str, Any]) -> CampaignForm:
    """The editor's fields as posted."""
    steps = []
    for i in range(_count(form, "steps", MAX_FORM_STEPS)):

        def got(name: str, i: int = i) -> str:
            return _text(form.get(f"s{i}_{name}"))

        texts = [(DEFAULT_LANGUAGE, got("text0"))]
        for j in range(1, _count(form, f"s{i}_langs", MAX_FORM_LANGUAGES) + 1):
            language, text = got(f"lang{j}").strip(), got(f"text{j}")
            if language or text.strip():
                texts.append((language, text))
        steps.append(
            StepForm(
                unit=got("unit"),
                value=got("value").strip(),
                time=got("time").strip(),
                zone=got("zone").strip(),
                days=got("days").strip(),
                at=got("at").strip(),
                relative=got("relative"),
                before=got("before") == "on",
                texts=texts,
                question=got("question") == "on",
                choices=got("choices"),
                retry=got("retry"),
                # A step that just became a poll question shows the definition's defaults.
                timeout_value=got("timeout_value").strip() or DEFAULT_TIMEOUT_VALUE,
                timeout_unit=got("timeout_unit") or DEFAULT_TIMEOUT_UNIT,
                on_timeout=got("on_timeout") or "next",
                max_retries=got("max_retries").strip() or DEFAULT_MAX_RETRIES,
                channel=got("channel") or "sms",
                wa_from=got("wa_from").strip(),
                template_name=got("template_name").strip(),
                template_language=got("template_language").strip(),
                template_parameters=got("template_parameters"),
                media_kind=got("media_kind"),
                media_file=got("media_file").strip(),
                other_templates=got("other_templates"),
            )
        )
    return CampaignForm(
        name=_text(form.get("name")),
        kind=_text(form.get("kind")),
        sender=_text(form.get("sender")).strip(),
        open_for_subscriptions=_text(form.get("open_for_subscriptions")) == "on",
        window_from=_text(form.get("window_from")).strip(),
        window_until=_text(form.get("window_until")).strip(),
        reminder_arg=_text(form.get("reminder_arg")).strip(),
        reminder_field=_text(form.get("reminder_field")).strip(),
        steps=steps,
    )


def _number(text: str) -> int | str:
    """A whole number as a number; anything else as typed, for the definition to refuse."""
    return int(text) if _DIGITS.fullmatch(text) else text


def _delay(step: StepForm) -> dict[str, Any] | None:
    if not step.unit:
        return None
    delay: dict[str, Any] = {"unit": step.unit}
    if step.unit == "at":
        delay["at"] = step.at
        return delay
    delay["value"] = _number(step.value or "0")
    if step.time:
        delay["time"] = step.time
    if step.zone:
        delay["country" if _COUNTRY.fullmatch(step.zone) else "timezone"] = step.zone
    if step.days:
        wanted = [d.strip().casefold() for d in step.days.split(",") if d.strip()]
        delay["daysOfWeek"] = {d: True for d in wanted}
    if step.relative:
        delay["relative"] = step.relative
    return delay


def _choice(line: str) -> str | dict[str, Any]:
    value, colon, words = line.partition(":")
    if not colon:
        return line.strip()
    return {"value": value.strip(), "words": [w.strip() for w in words.split(",") if w.strip()]}


def asks_question(kind: str, step: StepForm) -> bool:
    """Whether the step is a poll question: every poll step, a drip step when ticked."""
    return kind == "poll" or (kind == "drip" and step.question)


def _step(kind: str, step: StepForm) -> dict[str, Any]:
    texts = dict(step.texts)
    message: str | dict[str, str] = texts if len(texts) > 1 else texts[DEFAULT_LANGUAGE]
    raw: dict[str, Any] = {"message": message}
    if step.channel == "whatsapp":
        raw = _whatsapp_step(step, texts)
    delay = _delay(step)
    if delay is not None:
        raw["delay"] = delay
    if kind == "reminder" and step.before:
        raw["before"] = True
    if asks_question(kind, step):
        lines = [line for line in step.choices.splitlines() if line.strip()]
        if lines:
            raw["choices"] = [_choice(line) for line in lines]
        if step.retry.strip():
            raw["retry"] = step.retry
        raw["maxRetries"] = _number(step.max_retries or DEFAULT_MAX_RETRIES)
        raw["timeout"] = {
            "unit": step.timeout_unit,
            "value": _number(step.timeout_value or "0"),
        }
        raw["onTimeout"] = step.on_timeout or "next"
    return raw


def _whatsapp_step(step: StepForm, texts: dict[str, str]) -> dict[str, Any]:
    """A WhatsApp step: an empty default text means a template-only step."""
    raw: dict[str, Any] = {"channel": "whatsapp", "from": step.wa_from}
    if any(text.strip() for text in texts.values()):
        raw["message"] = texts if len(texts) > 1 else texts[DEFAULT_LANGUAGE]
    templates: dict[str, Any] = {}
    if step.other_templates.strip():
        try:
            loaded = json.loads(step.other_templates)
        except ValueError:
            loaded = None
        templates = dict(loaded) if isinstance(loaded, dict) else {}
    if step.template_name:
        parameters = [p.strip() for p in step.template_parameters.splitlines() if p.strip()]
        default = {"name": step.template_name, "language": step.template_language}
        templates[DEFAULT_LANGUAGE] = {**default, "parameters": parameters}
    if templates:
        only_default = list(templates) == [DEFAULT_LANGUAGE]
        raw["template"] = templates[DEFAULT_LANGUAGE] if only_default else templates
    if step.media_kind and step.media_file:
        raw[f"{step.media_kind}File"] = step.media_file
    return raw


def definition_of(form: CampaignForm) -> dict[str, Any]:
    """The definition document (as the API takes it) the fields describe; cleared optional
    parts are None, which an update reads as "remove"."""
    window = None
    if form.window_from or form.window_until:
        window = {"from": form.window_from, "until": form.window_until}
    reminder = None
    if form.kind == "reminder" and (form.reminder_arg or form.reminder_field):
        reminder = {
            k: v for k, v in (("arg", form.reminder_arg), ("customField", form.reminder_field)) if v
        }
    return {
        "name": form.name,
        "kind": form.kind,
        "openForSubscriptions": form.open_for_subscriptions,
        "sender": form.sender or None,
        "sendingWindow": window,
        "reminderDate": reminder,
        "steps": [_step(form.kind, s) for s in form.steps],
    }
