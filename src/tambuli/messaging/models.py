"""Pure rules of SMS: statuses, message IDs, sender IDs, retries, pacing and price lookup."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache

from tambuli.errors import InvalidField, MissingSender

MESSAGE_ID_PATTERN = re.compile(r"^SMS(\d{8}T\d{6})-(\d{1,18})-(\d{1,18})$")
# The ID of a message of another channel: its prefix ("WA" for WhatsApp), then the same parts.
_ID_PATTERNS = {"SMS": MESSAGE_ID_PATTERN}
MAX_MESSAGE_LENGTH = 10_000
MAX_ALPHANUMERIC_SENDER = 11
MAX_NUMERIC_SENDER = 15
_ALPHANUMERIC_SENDER = re.compile(r"^[A-Za-z0-9 ._&'-]+$")


class Direction(StrEnum):
    """Which way a message travelled."""

    EGRESS = "egress"  # sent by the organization to a handset
    INGRESS = "ingress"  # sent by a handset to one of the organization's sender IDs


class MessageStatus(StrEnum):
    """Where a message stands in delivery."""

    QUEUED = "queued"  # waiting for its (next) hand-off to an operator
    ACCEPTED = "accepted"  # an operator took it; only a receipt can still change
    FAILED = "failed"  # refused for good or its deadline passed; fully refunded
    RECEIVED = "received"  # an inbound message, stored


class DeliveryError(StrEnum):
    """The words of the spec's deliveryError vocabulary that Tambuli produces."""

    EXPIRED = "expired"
    NO_ROUTE = "no route"
    UNREACHABLE = "unreachable"
    UNKNOWN = "unknown"


def format_message_id(created_at: datetime, org_id: int, row_id: int, prefix: str = "SMS") -> str:
    """The engageSPARK-style ID `SMS<UTC yyyymmddThhmmss>-<orgId>-<sequence>` (or another
    channel's prefix)."""
    return f"{prefix}{_format_id_stamp(created_at)}-{org_id}-{row_id}"


# The messages of a batch share their creation time, so each stamp is formatted once.
@lru_cache(maxsize=256)
def _format_id_stamp(created_at: datetime) -> str:
    return created_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


@dataclass(frozen=True)
class MessageKey:
    """The parts of a message ID: enough to find the row and check it is the same message."""

    stamp: str
    org_id: int
    row_id: int


def parse_message_id(text: str, prefix: str = "SMS") -> MessageKey | None:
    """The parts of a message ID with this prefix, or None when the text cannot be one."""
    pattern = _ID_PATTERNS.get(prefix)
    if pattern is None:
        pattern = _ID_PATTERNS[prefix] = re.compile(
            rf"^{re.escape(prefix)}(\d{{8}}T\d{{6}})-(\d{{1,18}})-(\d{{1,18}})$"
        )
    match = pattern.match(text)
    if match is None:
        return None
    return MessageKey(match.group(1), int(match.group(2)), int(match.group(3)))


def choose_sender(requested: str | None, org_default: str, server_default: str) -> str:
    """The sender ID of a message: the request's, else the organization's, else the server's.

    MissingSender when all three are empty; the chosen one is checked (check_sender_id).
    """
    for candidate in (requested, org_default, server_default):
        if candidate and candidate.strip():
            return check_sender_id(candidate)
    raise MissingSender()


def check_sender_id(sender: str) -> str:
    """An alphanumeric sender ID of up to 11 characters, or a number of up to 15 digits."""
    cleaned = sender.strip()
    digits = cleaned.removeprefix("+")
    if digits.isascii() and digits.isdigit():
        if len(digits) > MAX_NUMERIC_SENDER:
            raise InvalidField(
                f"A numeric sender ID has at most {MAX_NUMERIC_SENDER} digits", {"field": "from"}
            )
        return digits
    if not cleaned or not _ALPHANUMERIC_SENDER.match(cleaned):
        raise InvalidField(
            "The sender ID must be letters, digits, spaces or . _ & ' -", {"field": "from"}
        )
    if len(cleaned) > MAX_ALPHANUMERIC_SENDER:
        raise InvalidField(
            f"An alphanumeric sender ID has at most {MAX_ALPHANUMERIC_SENDER} characters",
            {"field": "from"},
        )
    return cleaned


def sender_key(sender: str) -> str:
    """The one form every spelling of a sender ID shares: no spaces around, no "+", lower case.

    Handsets and operators do not keep a sender ID's case or its "+", so "ACME" and "Acme", or
    "+639170000000" and "639170000000", are one sender for ownership and for replies.
    """
    cleaned = sender.strip()
    digits = cleaned.removeprefix("+")
    if digits.isascii() and digits.isdigit():
        return digits
    return cleaned.lower()


def next_pacing_slot(
    recent_handoffs: Sequence[datetime], now: datetime, limit: int, window: timedelta
) -> datetime | None:
    """None if one more hand-off to this number fits the rolling window, else when it will.

    `recent_handoffs` are the times of earlier hand-offs to the same number (any order).
    """
    if limit <= 0:
        return None
    in_window = sorted(t for t in recent_handoffs if t > now - window)
    if len(in_window) < limit:
        return None
    # The window has room again when the oldest hand-off that keeps it full drops out.
    return in_window[len(in_window) - limit] + window


def find_price(prices: Mapping[tuple[str, str], int], country: str, number: str) -> int | None:
    """The price per part for a number: the longest matching prefix, else the country's price."""
    best: tuple[int, int] | None = None
    for (price_country, prefix), price in prices.items():
        if price_country != country or not number.startswith(prefix):
            continue
        if best is None or len(prefix) > best[0]:
            best = (len(prefix), price)
    return None if best is None else best[1]
