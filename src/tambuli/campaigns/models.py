"""Campaigns as the rest of Tambuli sees them, and the rules of their definition file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tambuli.campaigns.delays import Delay, DelayUnit, parse_delay
from tambuli.campaigns.polls import Choice, parse_choices
from tambuli.campaigns.quiet_hours import SendingWindow, parse_sending_window
from tambuli.campaigns.whatsapp_steps import (
    WHATSAPP_KEYS,
    StepChannel,
    WhatsAppStep,
    parse_whatsapp_step,
    read_channel,
    refuse_whatsapp_fields,
)
from tambuli.errors import InvalidField
from tambuli.messaging.models import MAX_MESSAGE_LENGTH, check_sender_id
from tambuli.texts import check_storable_text

MAX_STEPS = 100
MAX_NAME_LENGTH = 200
MAX_LANGUAGE_LENGTH = 100
MAX_RETRIES = 10
DEFAULT_MAX_RETRIES = 2
DEFAULT_TIMEOUT = {"unit": "hour", "value": 24}
DEFAULT_REMINDER_ARG = "date"
DEFAULT_TEXT_KEY = "default"
CAMPAIGN_KEYS = frozenset(
    {"name", "kind", "openForSubscriptions", "steps", "sendingWindow", "sender", "reminderDate"}
)
STEP_KEYS = frozenset(
    {
        "delay",
        "before",
        "channel",
        "message",
        "choices",
        "retry",
        "maxRetries",
        "timeout",
        "onTimeout",
        *WHATSAPP_KEYS,
    }
)
POLL_KEYS = frozenset({"choices", "retry", "maxRetries", "timeout", "onTimeout"})


class CampaignKind(StrEnum):
    """What a campaign does with its steps."""

    BLAST = "blast"  # one message per subscriber, at subscription (or its delay)
    # Ordered steps, each counted from the previous one or from the start; a step with poll
    # fields is a question, and the step after it counts from its answer (or timeout).
    DRIP = "drip"
    REMINDER = "reminder"  # steps counted from a date given per subscription, before or after
    POLL = "poll"  # questions; each waits for a valid reply (or a timeout) before the next


# Kinds whose steps may be questions: every poll step is one, a drip step when it has poll fields.
QUESTION_KINDS = frozenset({CampaignKind.POLL, CampaignKind.DRIP})


class CampaignState(StrEnum):
    """Where a campaign stands in its life."""

    DRAFT = "draft"  # being written; accepts no subscriptions
    LAUNCHED = "launched"  # running: steps fire, subscriptions are accepted if open
    STOPPED = "stopped"  # halted: no step fires until it is launched again


class RunStatus(StrEnum):
    """Where one subscription (a run) stands."""

    ACTIVE = "active"  # steps still to come
    PAUSED = "paused"  # active, but its campaign is stopped: steps wait for a relaunch
    DONE = "done"  # every step fired (or the poll ended)
    UNSUBSCRIBED = "unsubscribed"  # ended by an unsubscribe request (reported as an error)
    OPTED_OUT = "opted_out"  # ended because the contact's number opted out
    ERROR = "error"  # ended because a step could not be sent for good (refused, contact deleted)


ACTIVE_STATUSES = (RunStatus.ACTIVE.value, RunStatus.PAUSED.value)


class TimeoutAction(StrEnum):
    """What a poll does when a question gets no valid reply in time."""

    NEXT = "next"  # go on with the next question
    END = "end"  # end the run


@dataclass(frozen=True)
class Question:
    """How a poll step waits for its answer."""

    choices: tuple[Choice, ...]
    # Sent after an invalid reply, by language; empty means the question is sent again.
    retry: Mapping[str, str]
    max_retries: int
    timeout: Delay
    on_timeout: TimeoutAction


@dataclass(frozen=True)
class Step:
    """One step: when it fires (relative to what) and the text it sends, by language."""

    delay: Delay
    # Reminder steps only: count the delay backwards from the date ("3 days before").
    before: bool
    # Empty only for a WhatsApp step that sends templates alone.
    message: Mapping[str, str]
    question: Question | None
    # Set for a WhatsApp step (its business number, templates and File); None for SMS.
    whatsapp: WhatsAppStep | None = None


@dataclass(frozen=True)
class CampaignRules:
    """The checked definition of a campaign, apart from its name, kind and flags."""

    steps: tuple[Step, ...]
    sending_window: SendingWindow | None
    sender: str
    # Reminders: the `args` key holding the date, or else a contact custom field's name.
    reminder_arg: str
    reminder_field: str


@dataclass(frozen=True)
class CampaignSpec:
    """A checked campaign definition, and the JSON to store for it."""

    name: str
    kind: CampaignKind
    open_for_subscriptions: bool
    rules: CampaignRules
    definition: dict[str, Any]


@dataclass(frozen=True)
class Campaign:
    """A stored campaign."""

    id: int
    org_id: int
    name: str
    kind: CampaignKind
    state: CampaignState
    open_for_subscriptions: bool
    rules: CampaignRules
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    launched_at: datetime | None
    stopped_at: datetime | None

    @property
    def accepts_subscriptions(self) -> bool:
        """Launched, not stopped, and open."""
        return self.state is CampaignState.LAUNCHED and self.open_for_subscriptions


def check_storable_json(name: str, value: object) -> None:
    """Every text in a JSON value (keys too) is text both databases can store."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            check_storable_text(name, item)
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def parse_campaign(raw: object) -> CampaignSpec:
    """Check a whole campaign definition (the API body or the CLI's file)."""
    given = _require_object(raw, "campaign")
    _refuse_unknown(given, CAMPAIGN_KEYS, "")
    name = _read_name(given.get("name"))
    kind = _read_kind(given.get("kind"))
    open_flag = _read_bool(given.get("openForSubscriptions", True), "openForSubscriptions")
    definition = {key: given[key] for key in CAMPAIGN_KEYS - {"name", "kind"} if key in given}
    definition.pop("openForSubscriptions", None)
    rules = parse_rules(kind, definition)
    # The texts checked above name their own field; this catches the rest (choices, words).
    check_storable_json("campaign", definition)
    return CampaignSpec(name, kind, open_flag, rules, definition)


def parse_rules(kind: CampaignKind, definition: Mapping[str, Any]) -> CampaignRules:
    """Check the stored part of a definition: steps, window, sender, reminder date source."""
    steps_raw = definition.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise InvalidField("steps must be a non-empty list", {"field": "steps"})
    if len(steps_raw) > MAX_STEPS:
        raise InvalidField(f"A campaign has at most {MAX_STEPS} steps", {"field": "steps"})
    if kind is CampaignKind.BLAST and len(steps_raw) != 1:
        raise InvalidField("A blast campaign has exactly one step", {"field": "steps"})
    steps = tuple(_parse_step(kind, item, index) for index, item in enumerate(steps_raw))
    sender = definition.get("sender") or ""
    if not isinstance(sender, str):
        raise InvalidField("sender must be a string", {"field": "sender"})
    if sender:
        sender = check_sender_id(sender)
    reminder_arg, reminder_field = _parse_reminder_source(kind, definition.get("reminderDate"))
    return CampaignRules(
        steps=steps,
        sending_window=parse_sending_window(definition.get("sendingWindow")),
        sender=sender,
        reminder_arg=reminder_arg,
        reminder_field=reminder_field,
    )


def choose_text(texts: Mapping[str, str], language: str) -> str:
    """The text for a contact's language (compared without case), else the default."""
    wanted = language.strip().casefold()
    if wanted:
        for key, text in texts.items():
            if key.casefold() == wanted:
                return text
    return texts[DEFAULT_TEXT_KEY]


def _parse_step(kind: CampaignKind, raw: object, index: int) -> Step:
    where = f"steps[{index}]"
    given = _require_object(raw, where)
    _refuse_unknown(given, STEP_KEYS, where + ".")
    poll_fields = sorted(POLL_KEYS & given.keys())
    if poll_fields and kind not in QUESTION_KINDS:
        raise InvalidField(
            f"{where}.{poll_fields[0]} is only for poll and drip campaigns",
            {"field": f"{where}.{poll_fields[0]}"},
        )
    delay_raw = given.get("delay")
    if delay_raw is not None and not isinstance(delay_raw, Mapping):
        raise InvalidField(f"{where}.delay must be an object", {"field": f"{where}.delay"})
    delay = parse_delay(delay_raw)
    before = _read_bool(given.get("before", False), f"{where}.before")
    if before and kind is not CampaignKind.REMINDER:
        raise InvalidField(
            f"{where}.before is only for reminder campaigns", {"field": f"{where}.before"}
        )
    asks = kind is CampaignKind.POLL or bool(poll_fields)
    whatsapp = None
    if read_channel(given.get("channel"), where) is StepChannel.WHATSAPP:
        message = _parse_texts(given.get("message"), f"{where}.message", required=False)
        whatsapp = parse_whatsapp_step(given, where, bool(message))
    else:
        refuse_whatsapp_fields(given, where)
        message = _parse_texts(given.get("message"), f"{where}.message", required=True)
    question = _parse_question(given, where) if asks else None
    return Step(delay=delay, before=before, message=message, question=question, whatsapp=whatsapp)


def _parse_question(given: Mapping[str, Any], where: str) -> Question:
    retries = given.get("maxRetries", DEFAULT_MAX_RETRIES)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise InvalidField(
            f"{where}.maxRetries must be a whole number from 0 to {MAX_RETRIES}",
            {"field": f"{where}.maxRetries"},
        )
    timeout_raw = given.get("timeout", DEFAULT_TIMEOUT)
    if not isinstance(timeout_raw, Mapping):
        raise InvalidField(f"{where}.timeout must be an object", {"field": f"{where}.timeout"})
    timeout = parse_delay(timeout_raw)
    if timeout.unit in (DelayUnit.NONE, DelayUnit.AT) or timeout.value <= 0:
        raise InvalidField(
            f"{where}.timeout must be a positive delay (seconds to months)",
            {"field": f"{where}.timeout"},
        )
    action = given.get("onTimeout", TimeoutAction.NEXT.value)
    if action not in {a.value for a in TimeoutAction}:
        raise InvalidField(
            f'{where}.onTimeout must be "next" or "end"', {"field": f"{where}.onTimeout"}
        )
    return Question(
        choices=parse_choices(given.get("choices"), f"{where}.choices"),
        retry=_parse_texts(given.get("retry"), f"{where}.retry", required=False),
        max_retries=retries,
        timeout=timeout,
        on_timeout=TimeoutAction(action),
    )


def _parse_texts(raw: object, where: str, *, required: bool) -> dict[str, str]:
    """Text by language: a plain string is the default text."""
    if raw is None and not required:
        return {}
    if isinstance(raw, str):
        raw = {DEFAULT_TEXT_KEY: raw}
    if not isinstance(raw, Mapping):
        raise InvalidField(
            f'{where} must be a text or an object of texts by language with a "default"',
            {"field": where},
        )
    texts: dict[str, str] = {}
    for language, text in raw.items():
        if not isinstance(language, str) or not language.strip():
            raise InvalidField(f"{where}: languages must be non-empty names", {"field": where})
        if len(language) > MAX_LANGUAGE_LENGTH:
            raise InvalidField(f"{where}: language name too long", {"field": where})
        if not isinstance(text, str) or not text.strip():
            raise InvalidField(f"{where}.{language} must be a non-empty text", {"field": where})
        if len(text) > MAX_MESSAGE_LENGTH:
            raise InvalidField(
                f"{where}.{language} is longer than {MAX_MESSAGE_LENGTH} characters",
                {"field": where},
            )
        texts[language] = check_storable_text(f"{where}.{language}", text)
    if DEFAULT_TEXT_KEY not in texts:
        raise InvalidField(f'{where} needs a "default" text', {"field": where})
    return texts


def _parse_reminder_source(kind: CampaignKind, raw: object) -> tuple[str, str]:
    if raw is None:
        return DEFAULT_REMINDER_ARG, ""
    if kind is not CampaignKind.REMINDER:
        raise InvalidField("reminderDate is only for reminder campaigns", {"field": "reminderDate"})
    given = _require_object(raw, "reminderDate")
    _refuse_unknown(given, frozenset({"arg", "customField"}), "reminderDate.")
    arg = given.get("arg", DEFAULT_REMINDER_ARG)
    field = given.get("customField", "")
    if not isinstance(arg, str) or not isinstance(field, str) or not (arg.strip() or field.strip()):
        raise InvalidField(
            'reminderDate needs "arg" (a subscription args key) or "customField" (a name)',
            {"field": "reminderDate"},
        )
    return arg.strip(), field.strip()


def _read_name(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidField("name must be a non-empty text", {"field": "name"})
    if len(raw) > MAX_NAME_LENGTH:
        raise InvalidField(f"name is longer than {MAX_NAME_LENGTH} characters", {"field": "name"})
    return check_storable_text("name", raw.strip())


def _read_kind(raw: object) -> CampaignKind:
    if raw not in {k.value for k in CampaignKind}:
        raise InvalidField(
            "kind must be one of " + ", ".join(k.value for k in CampaignKind), {"field": "kind"}
        )
    return CampaignKind(str(raw))


def _read_bool(raw: object, name: str) -> bool:
    if not isinstance(raw, bool):
        raise InvalidField(f"{name} must be true or false", {"field": name})
    return raw


def _require_object(raw: object, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise InvalidField(f"{where} must be an object", {"field": where})
    return raw


def _refuse_unknown(given: Mapping[str, Any], known: frozenset[str], prefix: str) -> None:
    unknown = sorted(str(key) for key in given if key not in known)
    if unknown:
        raise InvalidField(
            f"Unknown field {prefix}{unknown[0]!r}", {"field": f"{prefix}{unknown[0]}"}
        )
