"""Money parsing and formatting: integer micro-USD, no floats in arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tambuli.billing.models import (
    format_usd,
    format_usd_cents_down,
    parse_usd,
    usd_number,
)
from tambuli.errors import InvalidAmount, InvalidField
from tambuli.topups.selection import parse_amount

# Text an operator might type where an amount is expected; Decimal alone accepts most of it.
NOT_PLAIN_DECIMALS = ["1e3", "1E3", "1_000", "+5", ".5", "5.", "0x10", "1,000", "١٠", "5 5", "-0"]


@pytest.mark.parametrize(
    ("text", "micro"),
    [("10", 10_000_000), ("0.25", 250_000), ("3.141592", 3_141_592), (" 1.5 ", 1_500_000)],
)
def test_usd_text_becomes_exact_micro_usd(text: str, micro: int) -> None:
    assert parse_usd(text) == micro


@pytest.mark.parametrize("text", ["abc", "", "1.0000001", "-1", "NaN", "Infinity", "1e30"])
def test_unusable_usd_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_usd(text)


@pytest.mark.parametrize(
    ("micro", "human"),
    [(3_141_592, "3.14"), (9_999, "0.00"), (10_000, "0.01"), (0, "0.00"), (10_999_999, "10.99")],
)
def test_balance_human_rounds_down_to_cents_with_two_digits(micro: int, human: str) -> None:
    assert format_usd_cents_down(micro) == human


@given(st.integers(min_value=0, max_value=10**15))
def test_formatting_and_parsing_round_trip(micro: int) -> None:
    assert parse_usd(format_usd(micro)) == micro


@given(st.integers(min_value=0, max_value=10**12))
def test_the_json_number_has_the_same_six_decimals(micro: int) -> None:
    assert f"{usd_number(micro):.6f}" == format_usd(micro)


@pytest.mark.parametrize("text", NOT_PLAIN_DECIMALS)
def test_usd_text_must_be_a_plain_decimal(text: str) -> None:
    with pytest.raises(InvalidAmount, match="not an amount in USD"):
        parse_usd(text)


@pytest.mark.parametrize(
    "text", [*NOT_PLAIN_DECIMALS, "10", "0.25", "3.141592", " 7 ", "0.0000001", "1e30", "NaN"]
)
def test_usd_text_is_read_exactly_as_the_api_reads_amounts(text: str) -> None:
    try:
        api: int | None = parse_amount("amount", text, 6)
    except InvalidField:
        api = None
    try:
        cli: int | None = parse_usd(text)
    except InvalidAmount:
        cli = None
    assert cli == api
