"""Pure SMS rules: message IDs, sender IDs, pacing, prices and personalisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tambuli.contacts.models import Contact
from tambuli.errors import InvalidField, MissingSender
from tambuli.messaging.models import (
    check_sender_id,
    choose_sender,
    find_price,
    format_message_id,
    next_pacing_slot,
    parse_message_id,
)
from tambuli.messaging.personalisation import has_variables, render_for_contact

NOW = datetime(2026, 3, 25, 12, 27, 39, 123456, tzinfo=UTC)


def test_a_message_id_has_the_utc_time_the_organization_and_a_sequence() -> None:
    manila = NOW.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Manila"))
    assert format_message_id(manila, 500492, 1545) == "SMS20260325T122739-500492-1545"
    key = parse_message_id("SMS20260325T122739-500492-1545")
    assert key is not None
    assert (key.stamp, key.org_id, key.row_id) == ("20260325T122739", 500492, 1545)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SMS",
        "SMS20260325T122739-1",
        "sms20260325T122739-1-2",
        "SMS2026-1-2",
        "1545",
        "SMS20260325T122739-1-2 ",
        "SMS20260325T122739-1-" + "9" * 19,
    ],
)
def test_text_that_is_not_a_message_id_parses_to_nothing(text: str) -> None:
    assert parse_message_id(text) is None


@pytest.mark.parametrize(
    ("given_sender", "stored"),
    [
        ("Tambuli", "Tambuli"),
        (" CoopSMS ", "CoopSMS"),
        ("+639171234567", "639171234567"),
        ("21587", "21587"),
        ("A.B_C-D&E'F", "A.B_C-D&E'F"),
    ],
)
def test_sender_ids_are_alphanumeric_up_to_11_or_numeric_up_to_15(
    given_sender: str, stored: str
) -> None:
    assert check_sender_id(given_sender) == stored


@pytest.mark.parametrize("sender", ["", "   ", "TwelveChars!", "ABCDEFGHIJKL", "1" * 16, "Tämbuli"])
def test_other_sender_ids_are_refused(sender: str) -> None:
    with pytest.raises(InvalidField):
        check_sender_id(sender)


def test_pacing_lets_five_through_a_rolling_minute_and_names_when_the_sixth_may_go() -> None:
    window = timedelta(minutes=1)
    sent = [NOW - timedelta(seconds=s) for s in (50, 40, 30, 20)]
    assert next_pacing_slot(sent, NOW, 5, window) is None
    sent.append(NOW)
    assert next_pacing_slot(sent, NOW, 5, window) == NOW - timedelta(seconds=50) + window
    # Hand-offs older than the window do not count.
    old = [NOW - timedelta(seconds=61)] * 10
    assert next_pacing_slot(old, NOW, 5, window) is None
    assert next_pacing_slot(sent, NOW, 0, window) is None


def test_the_longest_matching_prefix_sets_the_price() -> None:
    prices = {("PH", ""): 20_000, ("PH", "63917"): 18_000, ("PH", "639171"): 15_000}
    assert find_price(prices, "PH", "639171234567") == 15_000
    assert find_price(prices, "PH", "639181234567") == 20_000
    assert find_price(prices, "PH", "639175234567") == 18_000
    assert find_price(prices, "KE", "254712345678") is None
    assert find_price({("PH", "63917"): 1}, "PH", "639181234567") is None


def _contact(**fields: object) -> Contact:
    base: dict[str, object] = {
        "id": 7,
        "org_id": 1,
        "phone": "639171234567",
        "region": "PH",
        "carrier": "Globe",
        "first_name": "Mary",
        "last_name": "Sue",
        "language": "fil",
        "no_autodelete": False,
        "invalid": False,
        "groups": (),
        "custom_fields": {},
        "created_at": NOW,
        "updated_at": NOW,
        "last_use_at": NOW,
    }
    base.update(fields)
    return Contact(**base)  # type: ignore[arg-type]


def test_contact_variables_are_filled_case_insensitively_and_unknown_ones_render_empty() -> None:
    contact = _contact(custom_fields={3: "coconut", 9: "later"})
    names = {3: "Farm Crop", 9: "farm crop"}
    text = (
        "Hi {{contact.firstName}} {{ contact.LASTNAME }} ({{contact.fullPhoneNumber}},"
        " {{contact.language}}): your {{contact.farm crop}}{{contact.nosuch}}!"
    )
    assert render_for_contact(text, contact, names) == (
        "Hi Mary Sue (639171234567, fil): your coconut!"
    )


def test_text_without_variables_is_left_alone() -> None:
    assert not has_variables("Hello {{ world }} and {contact.firstName}")
    assert render_for_contact("Hello {{x}}", _contact(), {}) == "Hello {{x}}"


def test_the_sender_is_the_requests_else_the_organizations_else_the_servers() -> None:
    assert choose_sender(" COOP ", "Clinic", "Tambuli") == "COOP"
    assert choose_sender(None, "Clinic", "Tambuli") == "Clinic"
    assert choose_sender("", "", "Tambuli") == "Tambuli"
    assert choose_sender("  ", " ", "+639170000001") == "639170000001"
    with pytest.raises(MissingSender):
        choose_sender(None, "", "")
    with pytest.raises(InvalidField):
        choose_sender(None, "", "Far too long a name")
