"""Stable operator IDs (the legacy API's carrierId)."""

from __future__ import annotations

import pytest

from tambuli.contacts.carriers import (
    DERIVED_BASE,
    DERIVED_SPAN,
    KNOWN_CARRIER_IDS,
    find_carrier_id,
)
from tambuli.topups.builtin_catalogue import BUILTIN_CATALOGUE


def test_every_operator_of_the_builtin_catalogue_has_a_fixed_id_of_its_own() -> None:
    ids = {
        find_carrier_id(operator.country, name)
        for operator in BUILTIN_CATALOGUE.operators
        for name in operator.carrier_names
    }
    assert ids == set(KNOWN_CARRIER_IDS.values())
    assert len(ids) == len(KNOWN_CARRIER_IDS)


def test_smart_has_the_id_the_legacy_page_shows_for_a_smart_number() -> None:
    assert find_carrier_id("PH", "Smart") == 952


@pytest.mark.parametrize(
    ("region", "carrier", "expected"),
    [
        # Pinned: a derived ID must never change across releases or processes.
        ("PH", "Sun Cellular", 1_529_382_422),
        ("KE", "Telkom", 1_278_350_300),
        ("NG", "9mobile", 1_557_190_415),
    ],
)
def test_other_operators_get_an_id_derived_from_country_and_name(
    region: str, carrier: str, expected: int
) -> None:
    assert find_carrier_id(region, carrier) == expected
    assert DERIVED_BASE <= expected < DERIVED_BASE + DERIVED_SPAN < 2**31


def test_names_are_compared_without_case_or_surrounding_spaces() -> None:
    assert find_carrier_id("ph", "  GLOBE ") == find_carrier_id("PH", "Globe") == 1
    assert find_carrier_id("PH", "sun  cellular") == find_carrier_id("PH", "Sun Cellular")


def test_one_name_in_two_countries_is_two_operators() -> None:
    assert find_carrier_id("KE", "Airtel") != find_carrier_id("NG", "Airtel")
    assert find_carrier_id("UG", "Airtel") != find_carrier_id("TZ", "Airtel")


@pytest.mark.parametrize("carrier", ["", "   "])
def test_a_number_without_a_known_carrier_has_id_0(carrier: str) -> None:
    assert find_carrier_id("PH", carrier) == 0
