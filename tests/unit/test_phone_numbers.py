"""Phone-number normalisation to E.164 digits."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tambuli.contacts.phones import (
    _read_plain_international,
    normalise_either,
    normalise_full_number,
    normalise_local_number,
)
from tambuli.errors import AmbiguousPhoneNumber, InvalidPhoneNumber


@pytest.mark.parametrize("text", ["639171234567", "+639171234567", " +63 917 123 4567 "])
def test_full_numbers_are_stored_as_digits_without_plus(text: str) -> None:
    number = normalise_full_number(text)
    assert number.digits == "639171234567"
    assert number.region == "PH"
    assert number.carrier == "Globe"


@pytest.mark.parametrize(
    ("full", "local", "country"),
    [("639171234567", None, None), (None, "09171234567", "PH"), ("+14155550123", None, None)],
)
def test_a_number_without_its_carrier_is_the_same_number_with_an_empty_carrier(
    full: str | None, local: str | None, country: str | None
) -> None:
    described = normalise_either(full, local, country)
    bare = normalise_either(full, local, country, with_carrier=False)
    assert bare.carrier == ""
    assert (bare.digits, bare.region) == (described.digits, described.region)


def test_a_number_without_its_carrier_is_checked_all_the_same() -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalise_full_number("6391712345678901", with_carrier=False)


def test_local_numbers_are_read_in_their_country() -> None:
    assert normalise_local_number("09171234567", "ph").digits == "639171234567"
    assert normalise_local_number("(415) 555-0123", "US").digits == "14155550123"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "63917",  # too short
        "6391712345678901",  # too long
        "+12345678",  # a local number without its area code
        "+999123456",  # no such country code
        "1" * 60,
        "63917\x00234567",
    ],
)
def test_impossible_numbers_are_refused(text: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalise_full_number(text)


@pytest.mark.parametrize(
    ("full", "local", "country", "digits"),
    [
        ("631234567890", None, None, "631234567890"),  # the spec's example
        (None, "1234567890", "PH", "631234567890"),  # the reference page's example
        ("63123456789", None, None, "63123456789"),  # the legacy page's curl example
        ("6312345678", None, None, "6312345678"),  # the legacy page's format example
    ],
)
def test_possible_numbers_in_no_known_range_are_accepted_without_a_carrier(
    full: str | None, local: str | None, country: str | None, digits: str
) -> None:
    number = normalise_either(full, local, country)
    assert (number.digits, number.region, number.carrier) == (digits, "PH", "")


def test_a_possible_number_of_a_shared_calling_code_is_placed_in_its_main_country() -> None:
    assert normalise_full_number("+12345678901").region == "US"


@pytest.mark.parametrize("country", ["", "P", "PHL", "ZZ", "1A"])
def test_unknown_countries_are_refused(country: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalise_local_number("09171234567", country)


@pytest.mark.parametrize(
    ("full", "local", "country"),
    [
        (None, None, None),
        ("639171234567", "09171234567", "PH"),
        ("639171234567", None, "US"),
        (None, "09171234567", None),
        ("", "", ""),
        ("", "", "PH"),
    ],
)
def test_exactly_one_phone_number_form_is_required(
    full: str | None, local: str | None, country: str | None
) -> None:
    with pytest.raises((AmbiguousPhoneNumber, InvalidPhoneNumber)):
        normalise_either(full, local, country)


COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _parse_or_none(text: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None


@settings(max_examples=3000, deadline=None)
@given(
    country=st.sampled_from(COUNTRY_CODES) | st.integers(min_value=0, max_value=999),
    national=st.text(alphabet="0123456789", max_size=20),
)
@example(country=63, national="9171234567")
@example(country=63, national="09171234567")
@example(country=54, national="91123456789")
@example(country=39, national="0612345678")
@example(country=1, national="4155550123")
@example(country=7, national="89161234567")
def test_the_plain_international_reading_agrees_with_phonenumbers(
    country: int, national: str
) -> None:
    text = f"+{country}{national}"
    plain = _read_plain_international(text)
    if plain is not None:
        assert plain == _parse_or_none(text)


@pytest.mark.parametrize(
    "text", ["+639171234567", "+14155550123", "+447911123456", "+2348031234567", "+919812345678"]
)
def test_common_international_numbers_take_the_plain_reading(text: str) -> None:
    plain = _read_plain_international(text)
    assert plain is not None
    assert plain == phonenumbers.parse(text, None)
    assert normalise_full_number(text).digits == text[1:]


@pytest.mark.parametrize("text", ["+630171234567", "+390612345678", "+63 917", "+0639171234567"])
def test_numbers_with_prefixes_or_spaces_are_left_to_phonenumbers(text: str) -> None:
    assert _read_plain_international(text) is None


@pytest.mark.parametrize("country", ["PH", "ph", " PH "])
def test_a_country_that_agrees_with_a_full_number_is_accepted(country: str) -> None:
    assert normalise_either("639171234567", None, country).digits == "639171234567"


def test_a_country_that_disagrees_with_a_full_number_is_refused() -> None:
    with pytest.raises(AmbiguousPhoneNumber):
        normalise_either("639171234567", None, "US")
    with pytest.raises(InvalidPhoneNumber):
        normalise_either("639171234567", None, "ZZ")
