"""Top-up amounts: parsing, denominations and the maxAmount/desiredAmount selection rules."""

from __future__ import annotations

from itertools import islice
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tambuli.errors import InvalidField
from tambuli.topups.selection import Denominations, format_amount, parse_amount, select_amount


def pesos(*whole: int) -> tuple[int, ...]:
    """Whole pesos as centavos."""
    return tuple(amount * 100 for amount in whole)


# The reference needs Globe to sell 25 but not 20, and Smart to sell 20 but not 25.
GLOBE = Denominations(fixed=pesos(10, 15, 25, 30, 50, 100, 300, 500))
SMART = Denominations(fixed=pesos(10, 15, 20, 30, 50, 100, 300, 500))
RANGE_BY_ONE = Denominations(range_min=500, range_max=100_000, range_step=100)
RANGE_BY_FIVE = Denominations(range_min=500, range_max=100_000, range_step=500)
UNION = Denominations(fixed=pesos(3, 7, 1500), range_min=500, range_max=100_000, range_step=500)
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)


# --- the reference's four examples ---------------------------------------------------------
def test_globe_with_max_25_sends_25() -> None:
    assert select_amount(GLOBE, 2500) == 2500


def test_smart_with_max_25_sends_20() -> None:
    assert select_amount(SMART, 2500) == 2000


def test_smart_with_desired_20_and_max_30_sends_20() -> None:
    assert select_amount(SMART, 3000, 2000) == 2000


def test_globe_with_desired_20_and_max_30_sends_25() -> None:
    assert select_amount(GLOBE, 3000, 2000) == 2500


# --- fixed denominations ------------------------------------------------------------------
def test_max_exactly_an_amount_sends_that_amount() -> None:
    assert select_amount(GLOBE, 5000) == 5000


def test_max_between_two_amounts_sends_the_lower_one() -> None:
    assert select_amount(GLOBE, 4999) == 3000


def test_max_above_every_amount_sends_the_largest() -> None:
    assert select_amount(GLOBE, 10_000_000) == 50_000


def test_max_at_the_smallest_amount_sends_the_smallest() -> None:
    assert select_amount(GLOBE, 1000) == 1000


def test_desired_exactly_an_amount_sends_that_amount() -> None:
    assert select_amount(GLOBE, 10_000, 1500) == 1500


def test_desired_between_amounts_sends_the_next_higher_one() -> None:
    assert select_amount(GLOBE, 10_000, 3100) == 5000


def test_desired_below_the_smallest_sends_the_smallest() -> None:
    assert select_amount(GLOBE, 10_000, 1) == 1000


def test_desired_equal_to_max_and_on_sale_sends_it() -> None:
    assert select_amount(GLOBE, 2500, 2500) == 2500


def test_desired_with_nothing_on_sale_up_to_max_falls_back_to_the_largest_below_max() -> None:
    # Nothing in [60, 90]: the largest <= 90 is 50.
    assert select_amount(GLOBE, 9000, 6000) == 5000


def test_desired_equal_to_max_and_not_on_sale_falls_back_to_the_largest_below() -> None:
    assert select_amount(SMART, 2500, 2500) == 2000


def test_max_below_the_smallest_amount_is_refused_with_the_amounts_listed() -> None:
    with pytest.raises(InvalidField) as caught:
        select_amount(GLOBE, 999)
    assert "10.00, 15.00, 25.00, 30.00, 50.00, 100.00, 300.00 or 500.00" in caught.value.message
    assert caught.value.context == {
        "field": "maxAmount",
        "available": ["10.00", "15.00", "25.00", "30.00", "50.00", "100.00", "300.00", "500.00"],
    }


def test_max_below_the_smallest_amount_is_refused_even_with_a_desired_amount() -> None:
    with pytest.raises(InvalidField) as caught:
        select_amount(GLOBE, 500, 100)
    assert caught.value.context is not None
    assert caught.value.context["field"] == "maxAmount"


@pytest.mark.parametrize("max_amount", [0, -100])
def test_a_max_of_zero_or_less_is_refused(max_amount: int) -> None:
    with pytest.raises(InvalidField):
        select_amount(GLOBE, max_amount)


def test_desired_above_max_is_refused_on_desired_amount() -> None:
    with pytest.raises(InvalidField) as caught:
        select_amount(GLOBE, 2500, 3000)
    assert caught.value.context == {"field": "desiredAmount"}
    assert "30.00" in caught.value.message
    assert "25.00" in caught.value.message


def test_an_operator_with_no_amounts_refuses_every_max() -> None:
    with pytest.raises(InvalidField) as caught:
        select_amount(Denominations(), 100_000)
    assert "none" in caught.value.message
    assert caught.value.context == {"field": "maxAmount", "available": []}


# --- ranges with a step -------------------------------------------------------------------
def test_a_range_sends_max_when_it_is_on_the_grid() -> None:
    assert select_amount(RANGE_BY_ONE, 2500) == 2500


def test_a_range_rounds_a_max_with_cents_down_to_the_grid() -> None:
    assert select_amount(RANGE_BY_ONE, 2550) == 2500


def test_a_range_by_five_rounds_max_12_down_to_10() -> None:
    assert select_amount(RANGE_BY_FIVE, 1200) == 1000


def test_a_range_by_five_rounds_desired_11_up_to_15_within_max_30() -> None:
    assert select_amount(RANGE_BY_FIVE, 3000, 1100) == 1500


def test_a_range_with_desired_on_the_grid_sends_desired() -> None:
    assert select_amount(RANGE_BY_FIVE, 3000, 2000) == 2000


def test_a_range_with_desired_below_its_minimum_sends_the_minimum() -> None:
    assert select_amount(RANGE_BY_FIVE, 3000, 100) == 500


def test_a_range_with_max_above_its_top_sends_the_top() -> None:
    assert select_amount(RANGE_BY_FIVE, 500_000) == 100_000


def test_a_range_with_desired_above_its_top_falls_back_to_the_top() -> None:
    assert select_amount(RANGE_BY_FIVE, 500_000, 100_001) == 100_000


def test_a_range_with_no_grid_point_in_desired_to_max_falls_back_below_desired() -> None:
    # [11, 14] holds no multiple of 5 from 5 on; the largest <= 14 is 10.
    assert select_amount(RANGE_BY_FIVE, 1400, 1100) == 1000


def test_a_range_with_max_below_its_minimum_is_refused_as_from_to_in_steps_of() -> None:
    with pytest.raises(InvalidField) as caught:
        select_amount(RANGE_BY_ONE, 499)
    assert "from 5.00 to 1000.00 in steps of 1.00" in caught.value.message
    assert caught.value.context == {
        "field": "maxAmount",
        "available": [{"from": "5.00", "to": "1000.00", "step": "1.00"}],
    }


def test_a_huge_range_is_computed_not_enumerated() -> None:
    huge = Denominations(range_min=1, range_max=10**15, range_step=1)
    assert select_amount(huge, 10**14 + 3) == 10**14 + 3
    assert select_amount(huge, 10**16, 10**15 - 7) == 10**15 - 7
    coarse = Denominations(range_min=7, range_max=7 + 3 * 10**14, range_step=3)
    assert select_amount(coarse, 10**14) == 7 + 3 * ((10**14 - 7) // 3)


# --- fixed and range together -------------------------------------------------------------
def test_a_union_picks_a_fixed_amount_between_grid_points() -> None:
    assert select_amount(UNION, 800) == 700


def test_a_union_picks_a_fixed_amount_as_the_next_higher_one() -> None:
    assert select_amount(UNION, 3000, 600) == 700


def test_a_union_picks_a_grid_point_above_the_fixed_amounts() -> None:
    assert select_amount(UNION, 3000, 800) == 1000


def test_a_union_picks_a_fixed_amount_above_the_range() -> None:
    assert select_amount(UNION, 200_000) == 150_000
    assert select_amount(UNION, 200_000, 100_001) == 150_000


def test_a_union_picks_a_fixed_amount_below_the_range() -> None:
    assert select_amount(UNION, 499) == 300


def test_a_union_with_max_below_everything_lists_fixed_and_range() -> None:
    with pytest.raises(InvalidField) as caught:
        select_amount(UNION, 299)
    assert "3.00, 7.00, 1500.00 or from 5.00 to 1000.00 in steps of 5.00" in caught.value.message


# --- the catalogue itself -----------------------------------------------------------------
def test_available_merges_fixed_and_range_ascending_without_repeats() -> None:
    catalogue = Denominations(fixed=(3, 10, 12, 40), range_min=5, range_max=20, range_step=5)
    assert list(catalogue.available()) == [3, 5, 10, 12, 15, 20, 40]


def test_available_produces_a_huge_range_lazily() -> None:
    huge = Denominations(range_min=100, range_max=10**18, range_step=100)
    assert list(islice(huge.available(), 3)) == [100, 200, 300]


@pytest.mark.parametrize(
    ("catalogue", "text"),
    [
        (Denominations(fixed=(1000, 1500, 2500)), "10.00, 15.00 or 25.00"),
        (Denominations(fixed=(10, 15, 25), minor_digits=0), "10, 15 or 25"),
        (Denominations(fixed=(1000,)), "10.00"),
        (RANGE_BY_ONE, "from 5.00 to 1000.00 in steps of 1.00"),
        (Denominations(), "none"),
    ],
)
def test_describe_lists_amounts_for_people(catalogue: Denominations, text: str) -> None:
    assert catalogue.describe() == text


@pytest.mark.parametrize(
    "fields",
    [
        {"fixed": (0, 100)},
        {"fixed": (-100,)},
        {"fixed": (200, 100)},
        {"fixed": (100, 100)},
        {"range_min": 100, "range_max": 200},
        {"range_step": 100},
        {"range_min": 0, "range_max": 200, "range_step": 100},
        {"range_min": 100, "range_max": 200, "range_step": 0},
        {"range_min": 300, "range_max": 200, "range_step": 100},
        {"range_min": 100, "range_max": 250, "range_step": 100},
        {"minor_digits": -1},
        {"minor_digits": 7},
    ],
)
def test_an_inconsistent_catalogue_is_a_programming_error(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"."):
        Denominations(**fields)


# --- parsing and formatting ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "minor_digits", "minor"),
    [
        (25, 2, 2500),
        ("25", 2, 2500),
        ("25.50", 2, 2550),
        ("25.5", 2, 2550),
        (" 30 ", 2, 3000),
        ("\t7\n", 2, 700),
        ("0.01", 2, 1),
        ("007", 2, 700),
        ("25.000", 2, 2500),
        (1_000_000_000, 2, 100_000_000_000),
        ("1000000000.00", 2, 100_000_000_000),
        (100, 0, 100),
        ("100", 0, 100),
        ("100.00", 0, 100),
        ("1.005", 3, 1005),
    ],
)
def test_amounts_parse_exactly_into_minor_units(raw: object, minor_digits: int, minor: int) -> None:
    assert parse_amount("maxAmount", raw, minor_digits) == minor


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "abc",
        "25abc",
        "25 pesos",
        "PHP 25",
        "2 5",
        "-5",
        "+25",
        -5,
        0,
        "0",
        "0.00",
        "NaN",
        "nan",
        "sNaN",
        "Infinity",
        "-Infinity",
        "inf",
        "1e3",
        "1E3",
        "25.",
        ".5",
        "1_000",
        "25,50",
        "1,000",
        "25.505",
        "0.001",
        "٣٠",
        "0x1A",
        True,
        False,
        None,
        25.0,
        25.5,
        [25],
        {"amount": 25},
        "1000000000.01",
        1_000_000_001,
        10**30,
        pytest.param(10**5000, id="a-5001-digit-integer"),
        pytest.param("9" * 33, id="33-nines"),
        pytest.param("1" + "0" * 10_000, id="10001-digit-text"),
    ],
)
def test_unusable_amounts_are_refused_naming_the_field(raw: object) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_amount("desiredAmount", raw, 2)
    assert caught.value.context == {"field": "desiredAmount"}
    assert "desiredAmount" in caught.value.message


@pytest.mark.parametrize("raw", ["10.5", "10.01"])
def test_a_currency_without_decimals_refuses_cents(raw: str) -> None:
    with pytest.raises(InvalidField, match="no decimals"):
        parse_amount("maxAmount", raw, 0)


@pytest.mark.parametrize(
    ("minor", "minor_digits", "text"),
    [(2500, 2, "25.00"), (1, 2, "0.01"), (2550, 2, "25.50"), (100, 0, "100"), (5, 3, "0.005")],
)
def test_amounts_format_with_the_currency_digits(minor: int, minor_digits: int, text: str) -> None:
    assert format_amount(minor, minor_digits) == text


@pytest.mark.parametrize("minor_digits", [-1, 7])
def test_impossible_currency_digits_are_a_programming_error(minor_digits: int) -> None:
    with pytest.raises(ValueError, match="minor_digits"):
        parse_amount("maxAmount", 25, minor_digits)
    with pytest.raises(ValueError, match="minor_digits"):
        format_amount(2500, minor_digits)


# --- properties ---------------------------------------------------------------------------
@st.composite
def catalogues(draw: st.DrawFn) -> Denominations:
    """Any valid catalogue: fixed amounts, a stepped range, both or neither."""
    fixed = tuple(sorted(draw(st.sets(st.integers(1, 5000), max_size=8))))
    if not draw(st.booleans()):
        return Denominations(fixed=fixed)
    low = draw(st.integers(1, 2000))
    step = draw(st.integers(1, 300))
    count = draw(st.integers(0, 40))
    return Denominations(fixed, low, low + count * step, step)


@PROPERTY_SETTINGS
@given(catalogues(), st.integers(-10, 20_000))
def test_the_selected_amount_is_on_sale_and_never_above_max(
    catalogue: Denominations, max_amount: int
) -> None:
    on_sale = list(catalogue.available())
    at_most_max = [amount for amount in on_sale if amount <= max_amount]
    if not at_most_max:
        with pytest.raises(InvalidField):
            select_amount(catalogue, max_amount)
        return
    assert select_amount(catalogue, max_amount) == max(at_most_max)


@PROPERTY_SETTINGS
@given(catalogues(), st.integers(-10, 20_000), st.integers(0, 20_000))
def test_with_desired_the_smallest_in_desired_to_max_wins_else_the_largest_below_max(
    catalogue: Denominations, desired: int, headroom: int
) -> None:
    max_amount = desired + headroom
    on_sale = list(catalogue.available())
    in_window = [amount for amount in on_sale if desired <= amount <= max_amount]
    at_most_max = [amount for amount in on_sale if amount <= max_amount]
    if not at_most_max:
        with pytest.raises(InvalidField):
            select_amount(catalogue, max_amount, desired)
        return
    chosen = select_amount(catalogue, max_amount, desired)
    assert chosen == (min(in_window) if in_window else max(at_most_max))
    assert chosen in on_sale
    assert chosen <= max_amount


@PROPERTY_SETTINGS
@given(st.integers(1, 1_000_000_000 * 10**3), st.integers(0, 3))
def test_formatting_and_parsing_round_trip(minor: int, minor_digits: int) -> None:
    if minor > 1_000_000_000 * 10**minor_digits:
        with pytest.raises(InvalidField):
            parse_amount("maxAmount", format_amount(minor, minor_digits), minor_digits)
        return
    assert parse_amount("maxAmount", format_amount(minor, minor_digits), minor_digits) == minor


@PROPERTY_SETTINGS
@given(st.integers(1, 1_000_000_000), st.integers(0, 3))
def test_a_json_integer_is_whole_units(whole: int, minor_digits: int) -> None:
    assert parse_amount("maxAmount", whole, minor_digits) == whole * 10**minor_digits
    assert parse_amount("maxAmount", str(whole), minor_digits) == whole * 10**minor_digits
