"""Contacts as the rest of Tambuli sees them, and the pure rules on their fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tambuli.contacts.conditions import ConditionGroup
from tambuli.errors import InvalidField, InvalidInput
from tambuli.records import frozen_record

MAX_TEXT_LENGTH = 200
MAX_FIELD_VALUE_LENGTH = 10_000
# What a search term may hold, besides digits, and still be read as (part of) a phone number.
_PHONE_PUNCTUATION = frozenset(" +-().")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_GROUPS_PER_REQUEST = 1000
MAX_CUSTOM_FIELDS_PER_REQUEST = 1000


@frozen_record
class PhoneNumber:
    """A normalised phone number: E.164 digits without "+", its region and original carrier."""

    digits: str
    region: str
    carrier: str


@dataclass(frozen=True)
class Contact:
    """A person an organization reaches, with their groups and custom field values."""

    id: int
    org_id: int
    phone: str
    region: str
    carrier: str
    first_name: str
    last_name: str
    language: str
    no_autodelete: bool
    invalid: bool
    groups: tuple[int, ...]
    custom_fields: dict[int, str]
    created_at: datetime
    updated_at: datetime
    last_use_at: datetime
    # When the contact last wrote on WhatsApp (None: never); it is WhatsApp-ready from then.
    whatsapp_inbound_at: datetime | None = None


@dataclass(frozen=True)
class Group:
    """A named set of contacts."""

    id: int
    name: str
    created_at: datetime
    size: int = 0


@dataclass(frozen=True)
class CustomField:
    """A named free-text column on contacts."""

    id: int
    name: str
    created_at: datetime


@dataclass
class ContactInput:
    """Fields a caller gives on create or update; None means "not given, leave as is"."""

    first_name: str | None = None
    last_name: str | None = None
    language: str | None = None
    no_autodelete: bool | None = None
    groups: list[int] | None = None
    custom_fields: dict[int, str] = field(default_factory=dict)
    custom_fields_by_name: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContactFilter:
    """Which contacts a list asks for; None means "no filter"."""

    search: str | None = None
    phone: str | None = None
    group_id: int | None = None
    no_autodelete: bool | None = None
    # Contacts that wrote to one of the organization's WhatsApp numbers (or never did).
    whatsapp_ready: bool | None = None
    # Subqueries (SQL selects of contact IDs) another feature supplies, e.g. the campaigns'
    # subscription filter: only contacts in the first, none in the second.
    ids_in: object | None = None
    ids_not_in: object | None = None
    # A conditions filter (docs/contacts.md) whose custom fields are named by ID.
    conditions: ConditionGroup | None = None


@dataclass(frozen=True)
class ContactPage:
    """One page of a contact list with the counts the API reports."""

    total: int
    org_total: int
    contacts: list[Contact]


def check_text(name: str, value: str | None, limit: int = MAX_TEXT_LENGTH) -> str | None:
    """Refuse over-long or NUL-bearing text fields; trims surrounding white space."""
    if value is None:
        return None
    if "\x00" in value:
        raise InvalidField(f"{name} must not contain NUL characters", {"field": name})
    cleaned = value.strip()
    if len(cleaned) > limit:
        raise InvalidField(f"{name} is longer than {limit} characters", {"field": name})
    return cleaned


def parse_group_ids(values: list[int | str]) -> list[int]:
    """Group IDs from integers or strings of integers, without repeats, in given order."""
    if len(values) > MAX_GROUPS_PER_REQUEST:
        raise InvalidField(f"At most {MAX_GROUPS_PER_REQUEST} groups", {"field": "groups"})
    seen: dict[int, None] = {}
    for value in values:
        seen[parse_id(value, "groups")] = None
    return list(seen)


def parse_id(value: int | str, field_name: str) -> int:
    """A positive database ID from an int or a string of digits."""
    if isinstance(value, bool):
        raise InvalidField(f"{field_name}: {value!r} is not an ID", {"field": field_name})
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not text.isdigit():
            raise InvalidField(f"{field_name}: {value!r} is not an ID", {"field": field_name})
        number = int(text)
    else:
        number = value
    if number <= 0 or number >= 2**63:
        raise InvalidField(f"{field_name}: {value!r} is not an ID", {"field": field_name})
    return number


def parse_optional_id(value: int | str | None, field_name: str) -> int | None:
    """An ID a caller may leave out. Published clients send `0` or `""` for "none" (the spec's
    own sample has `contactId: 0`), so those mean absent, as `null` does."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "0")):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return None
    return parse_id(value, field_name)


def parse_custom_field_values(values: dict[str, str]) -> dict[int, str]:
    """Custom field values keyed by ID from keys that are strings of integers."""
    if len(values) > MAX_CUSTOM_FIELDS_PER_REQUEST:
        raise InvalidField("Too many custom fields", {"field": "customFields"})
    parsed: dict[int, str] = {}
    for key, value in values.items():
        field_id = parse_id(key, "customFields")
        checked = check_text("customFields value", value, MAX_FIELD_VALUE_LENGTH)
        parsed[field_id] = checked or ""
    return parsed


def check_custom_field_names(values: dict[str, str]) -> dict[str, str]:
    """Custom field values keyed by non-empty names, checked for length."""
    if len(values) > MAX_CUSTOM_FIELDS_PER_REQUEST:
        raise InvalidField("Too many custom fields", {"field": "customFieldsByName"})
    checked: dict[str, str] = {}
    for name, value in values.items():
        clean_name = check_text("customFieldsByName name", name)
        if not clean_name:
            raise InvalidInput("Custom field names must not be empty")
        checked[clean_name] = (
            check_text("customFieldsByName value", value, MAX_FIELD_VALUE_LENGTH) or ""
        )
    return checked


def search_phone_digits(term: str) -> str | None:
    """The digits a contact search matches against phone numbers, or None when the term does
    not look like a phone number: "Juan1" searches names only, "+63 917-123" numbers too."""
    digits = "".join(ch for ch in term if ch.isascii() and ch.isdigit())
    if not digits or any(
        not (ch.isascii() and ch.isdigit()) and ch not in _PHONE_PUNCTUATION for ch in term
    ):
        return None
    return digits


def fold_name(name: str) -> str:
    """The case-insensitive key of a group or custom field name."""
    return name.strip().casefold()


def check_page(page: int, size: int) -> None:
    """Refuse pages before the first and sizes outside 1..MAX_PAGE_SIZE."""
    if page < 1:
        raise InvalidField("page starts at 1", {"field": "page"})
    if size < 1 or size > MAX_PAGE_SIZE:
        raise InvalidField(f"size must be between 1 and {MAX_PAGE_SIZE}", {"field": "size"})
