"""The top-up catalogue: recognising a number's operator, pricing amounts and the rules it keeps."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import phonenumbers
import pytest
from phonenumbers import carrier

from tambuli.errors import InvalidCatalogue, NoTopupOperator
from tambuli.topups.builtin_catalogue import BUILTIN_CATALOGUE
from tambuli.topups.catalogue import (
    Catalogue,
    Country,
    Operator,
    Product,
    ProductKind,
    check_catalogue,
)
from tambuli.topups.selection import select_amount

PHILIPPINES = Country(code="PH", name="Philippines", local_currency="PHP")
KENYA = Country(code="KE", name="Kenya", local_currency="KES")


def fixed(amount: int, price: int = 1_000_000, received: int | None = None) -> Product:
    """A fixed product; the recipient receives the amount itself unless told otherwise."""
    return Product(
        ProductKind.FIXED, amount, None, None, price, amount if received is None else received
    )


def ranged(low: int, high: int, step: int, price: int, received: int) -> Product:
    """A range product, priced per whole unit."""
    return Product(ProductKind.RANGE, low, high, step, price, received)


def operator(code: str, country: str = "PH", **changes: Any) -> Operator:
    """A valid operator selling 10 and 20 of a two-digit currency, with the given changes."""
    base = Operator(
        code=code,
        country=country,
        name=code.title(),
        currency="PHP",
        minor_digits=2,
        carrier_names=(),
        prefixes=(),
        provider_ref="",
        products=(fixed(1000), fixed(2000)),
    )
    return replace(base, **changes)


def catalogue(*operators: Operator, countries: tuple[Country, ...] = (PHILIPPINES,)) -> Catalogue:
    return Catalogue(countries=countries, operators=operators)


def carrier_of(number: str) -> tuple[str, str, str]:
    """E.164 digits, region and phonenumbers' carrier name of a number, as top-ups look it up."""
    parsed = phonenumbers.parse(number)
    region = phonenumbers.region_code_for_number(parsed) or ""
    return number.lstrip("+"), region, carrier.name_for_number(parsed, "en")


def detect(cat: Catalogue, number: str) -> str:
    return cat.detect_operator(*carrier_of(number)).code


# --- recognising the operator --------------------------------------------------------------
@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+639171234567", "ph-globe"),
        ("+639181234567", "ph-smart"),
        ("+639911234567", "ph-dito"),
        ("+254712345678", "ke-safaricom"),
        ("+254733123456", "ke-airtel"),
        ("+2348031234567", "ng-mtn"),
        ("+2348021234567", "ng-airtel"),
        ("+2348051234567", "ng-glo"),
        ("+6281234567890", "id-telkomsel"),
        ("+50937123456", "ht-digicel"),
        ("+50932123456", "ht-natcom"),
    ],
)
def test_the_built_in_catalogue_recognises_numbers_by_their_phonenumbers_carrier(
    number: str, expected: str
) -> None:
    assert detect(BUILTIN_CATALOGUE, number) == expected


@pytest.mark.parametrize("number", ["+639071234567", "+639301234567", "+639221234567"])
def test_tnt_and_sun_numbers_are_topped_up_through_smart(number: str) -> None:
    assert detect(BUILTIN_CATALOGUE, number) == "ph-smart"


def test_tm_numbers_are_topped_up_through_globe() -> None:
    assert detect(BUILTIN_CATALOGUE, "+639351234567") == "ph-globe"


def test_carrier_names_match_whatever_their_case() -> None:
    found = BUILTIN_CATALOGUE.detect_operator("639171234567", "PH", "GLOBE")
    assert found.code == "ph-globe"


def test_a_carrier_name_of_another_country_does_not_count() -> None:
    with pytest.raises(NoTopupOperator):
        BUILTIN_CATALOGUE.detect_operator("639171234567", "PH", "Safaricom")


def test_a_catalogue_prefix_wins_over_the_carrier_name() -> None:
    cat = catalogue(
        operator("ph-globe", carrier_names=("Globe",)),
        operator("ph-smart", carrier_names=("Smart",), prefixes=("639171",)),
    )
    assert detect(cat, "+639171234567") == "ph-smart"
    assert detect(cat, "+639170234567") == "ph-globe"


def test_the_longest_matching_prefix_wins() -> None:
    cat = catalogue(
        operator("ph-short", prefixes=("63917",)),
        operator("ph-long", prefixes=("6391712",)),
        operator("ph-middle", prefixes=("639171",)),
    )
    assert cat.detect_operator("639171234567", "PH", "").code == "ph-long"
    assert cat.detect_operator("639171334567", "PH", "").code == "ph-middle"
    assert cat.detect_operator("639179999999", "PH", "").code == "ph-short"


def test_a_prefix_longer_than_the_number_does_not_match_it() -> None:
    cat = catalogue(
        operator("ph-long", prefixes=("639171234567",)), operator("ph-short", prefixes=("63917",))
    )
    assert cat.detect_operator("63917123", "PH", "").code == "ph-short"


def test_prefixes_only_count_within_the_numbers_country() -> None:
    cat = catalogue(
        operator("ph-globe", prefixes=("254",)),
        operator("ke-safaricom", country="KE", carrier_names=("Safaricom",)),
        countries=(PHILIPPINES, KENYA),
    )
    assert cat.detect_operator("254712345678", "KE", "Safaricom").code == "ke-safaricom"


def test_an_unknown_operator_is_refused_naming_the_number_and_country() -> None:
    with pytest.raises(NoTopupOperator) as raised:
        BUILTIN_CATALOGUE.detect_operator("639171234567", "PH", "")
    assert raised.value.error_code == "topup.nooperator"
    assert "+639171234567" in raised.value.message
    assert "Philippines" in raised.value.message


def test_a_country_without_operators_is_refused() -> None:
    digits, region, name = carrier_of("+4915112345678")
    with pytest.raises(NoTopupOperator) as raised:
        BUILTIN_CATALOGUE.detect_operator(digits, region, name)
    assert "DE" in raised.value.message


# --- lookups -------------------------------------------------------------------------------
def test_operators_are_found_by_code_and_by_provider_reference() -> None:
    globe = BUILTIN_CATALOGUE.find_operator("ph-globe")
    assert globe is not None
    assert BUILTIN_CATALOGUE.find_by_provider_ref(globe.provider_ref) is globe
    assert BUILTIN_CATALOGUE.find_operator("ph-nothing") is None
    assert BUILTIN_CATALOGUE.find_by_provider_ref("") is None
    assert BUILTIN_CATALOGUE.find_by_provider_ref("999999") is None


def test_countries_are_found_by_code() -> None:
    assert BUILTIN_CATALOGUE.find_country("PH") == PHILIPPINES
    assert BUILTIN_CATALOGUE.find_country("XX") is None


def test_catalogues_with_the_same_content_in_another_order_are_equal() -> None:
    first = catalogue(operator("ph-a", products=(fixed(2000), fixed(1000))), operator("ph-b"))
    second = catalogue(operator("ph-b"), operator("ph-a", products=(fixed(1000), fixed(2000))))
    assert first == second
    assert [o.code for o in first.operators] == ["ph-a", "ph-b"]


# --- pricing -------------------------------------------------------------------------------
def test_a_fixed_amount_costs_its_price_and_delivers_its_received_value() -> None:
    globe = BUILTIN_CATALOGUE.find_operator("ph-globe")
    assert globe is not None
    # 25 pesos at 56 pesos to the dollar plus 5%: 25 / 56 * 1.05 = 0.46875 USD.
    assert globe.price_for(2500) == 468_750
    assert globe.received_for(2500) == 2500


def test_a_range_amount_is_priced_per_whole_unit_rounding_up() -> None:
    shop = operator("ke-shop", products=(ranged(1000, 1_000_000, 100, 8_139, 100),))
    # 10 units at 8,139 micro-USD each.
    assert shop.price_for(1000) == 81_390
    assert shop.received_for(1000) == 1000
    cents = operator("ke-cents", products=(ranged(1001, 2001, 1, 8_139, 100),))
    # 10.01 units cost 81,471.39 micro-USD: the fraction is charged, never given away.
    assert cents.price_for(1001) == 81_472


def test_a_range_rounds_what_the_recipient_receives_down() -> None:
    shop = operator("ht-shop", products=(ranged(100, 10_000, 1, 1_050_000, 13_167),))
    # 1.01 USD of 131.67 gourdes each is 132.9867 gourdes: promise 132.98.
    assert shop.received_for(101) == 13_298


def test_prices_need_no_floats_even_for_huge_amounts() -> None:
    shop = operator("ng-shop", products=(ranged(100, 10**11, 1, 999_999, 100),))
    assert shop.price_for(10**11 - 1) == -(-((10**11 - 1) * 999_999) // 100)


@pytest.mark.parametrize(
    ("products", "amount"),
    [
        ((fixed(2500),), 2000),
        ((fixed(2500), ranged(100, 1_000_000, 100, 18_750, 100)), 100_001),
        ((fixed(2500), ranged(100, 1_000_000, 100, 18_750, 100)), 99),
        ((fixed(2500), ranged(100, 1_000_000, 100, 18_750, 100)), 1_000_100),
    ],
)
def test_an_amount_not_on_sale_has_no_price(products: tuple[Product, ...], amount: int) -> None:
    shop = operator("ph-shop", products=products)
    with pytest.raises(ValueError, match="does not sell"):
        shop.price_for(amount)
    with pytest.raises(ValueError, match="does not sell"):
        shop.received_for(amount)


def test_a_fixed_product_wins_over_a_range_covering_the_same_amount() -> None:
    mixed = operator(
        "ph-mixed", products=(fixed(5000, price=700_000), ranged(100, 100_000, 100, 18_750, 100))
    )
    assert mixed.price_for(5000) == 700_000
    assert mixed.price_for(5100) == 956_250


# --- the reference's examples on the built-in catalogue ----------------------------------
def built_in(code: str) -> Operator:
    found = BUILTIN_CATALOGUE.find_operator(code)
    assert found is not None
    return found


def test_globe_with_max_25_sends_25() -> None:
    assert select_amount(built_in("ph-globe").denominations(), 2500) == 2500


def test_smart_with_max_25_sends_20() -> None:
    assert select_amount(built_in("ph-smart").denominations(), 2500) == 2000


def test_smart_with_desired_20_and_max_30_sends_20() -> None:
    assert select_amount(built_in("ph-smart").denominations(), 3000, 2000) == 2000


def test_globe_with_desired_20_and_max_30_sends_25() -> None:
    assert select_amount(built_in("ph-globe").denominations(), 3000, 2000) == 2500


def test_every_amount_the_built_in_catalogue_sells_has_a_price() -> None:
    for op in BUILTIN_CATALOGUE.operators:
        denominations = op.denominations()
        for amount in [*denominations.fixed, denominations.range_min, denominations.range_max]:
            if amount is not None:
                assert op.price_for(amount) > 0
                assert op.received_for(amount) > 0


def test_the_built_in_catalogue_keeps_every_rule() -> None:
    check_catalogue(BUILTIN_CATALOGUE)


def test_denominations_put_the_fixed_amounts_in_order_beside_the_range() -> None:
    mixed = operator(
        "ph-mixed", products=(fixed(3000), ranged(100, 900, 100, 18_750, 100), fixed(1500))
    )
    denominations = mixed.denominations()
    assert denominations.fixed == (1500, 3000)
    assert (denominations.range_min, denominations.range_max, denominations.range_step) == (
        100,
        900,
        100,
    )
    assert mixed.denominations() is denominations


# --- the rules -----------------------------------------------------------------------------
def test_an_operator_with_two_ranges_has_no_denominations() -> None:
    twice = operator(
        "ph-twice", products=(ranged(100, 900, 100, 1, 1), ranged(1000, 2000, 100, 1, 1))
    )
    with pytest.raises(InvalidCatalogue, match="ph-twice"):
        twice.denominations()


BROKEN_OPERATORS: list[tuple[dict[str, Any], str]] = [
    ({"country": "XX"}, 'unknown country "XX"'),
    ({"currency": "php"}, "three capital letters"),
    ({"currency": "PESO"}, "three capital letters"),
    ({"minor_digits": 7}, "minor digits"),
    ({"minor_digits": -1}, "minor digits"),
    ({"prefixes": ("63-917",)}, "prefix"),
    ({"prefixes": ("",)}, "prefix"),
    ({"prefixes": ("6" * 16,)}, "prefix"),
    ({"prefixes": ("63917", "63917")}, "more than once"),
    ({"carrier_names": ("Globe|TM",)}, '"|"'),
    ({"carrier_names": (" Globe",)}, "carrier name"),
    ({"carrier_names": ("",)}, "carrier name"),
    ({"name": ""}, "name"),
    ({"name": "=HYPERLINK()"}, "must not start with"),
    ({"name": "Globe\x00"}, "control characters"),
    ({"name": "G" * 101}, "at most 100"),
    ({"code": "PH Globe"}, "lower-case"),
    ({"code": "p" * 51}, "lower-case"),
    ({"products": ()}, "sells nothing"),
    ({"products": (fixed(1000), fixed(1000))}, "10.00 appears more than once"),
    ({"products": (fixed(0),)}, "above zero"),
    ({"products": (fixed(-500),)}, "above zero"),
    ({"products": (fixed(1000, price=0),)}, "price must be above zero"),
    ({"products": (fixed(1000, price=-1),)}, "price must be above zero"),
    ({"products": (fixed(1000, received=0),)}, "received amount"),
    ({"products": (Product(ProductKind.FIXED, 1000, 2000, 100, 1, 1),)}, "no range"),
    ({"products": (Product(ProductKind.RANGE, 1000, None, 100, 1, 1),)}, "needs a maximum"),
    ({"products": (ranged(1000, 900, 100, 1, 1),)}, "at least the minimum"),
    ({"products": (ranged(1000, 2000, 0, 1, 1),)}, "step must be above zero"),
    ({"products": (ranged(1000, 2050, 100, 1, 1),)}, "whole number of steps"),
    (
        {"products": (ranged(100, 900, 100, 1, 1), ranged(1000, 2000, 100, 1, 1))},
        "more than one range",
    ),
    ({"products": (fixed(10**12),)}, "at most"),
]


@pytest.mark.parametrize(("changes", "message"), BROKEN_OPERATORS)
def test_a_broken_operator_is_refused_by_name(changes: dict[str, Any], message: str) -> None:
    broken = replace(operator("ph-broken"), **changes)
    with pytest.raises(InvalidCatalogue) as raised:
        check_catalogue(catalogue(broken))
    assert raised.value.error_code == "topup.invalidcatalogue"
    assert message in raised.value.message
    if changes.keys() != {"code"}:
        assert "ph-broken" in raised.value.message


def test_operator_codes_must_be_unique() -> None:
    with pytest.raises(InvalidCatalogue, match='"ph-globe" appears more than once'):
        check_catalogue(catalogue(operator("ph-globe"), operator("ph-globe", name="Other")))


def test_two_operators_cannot_share_a_provider_reference() -> None:
    with pytest.raises(InvalidCatalogue, match='both have provider reference "1350"'):
        check_catalogue(
            catalogue(operator("ph-a", provider_ref="1350"), operator("ph-b", provider_ref="1350"))
        )


def test_two_operators_of_a_country_cannot_claim_one_prefix() -> None:
    with pytest.raises(InvalidCatalogue, match="both claim prefix 63917"):
        check_catalogue(
            catalogue(operator("ph-a", prefixes=("63917",)), operator("ph-b", prefixes=("63917",)))
        )


def test_two_operators_of_a_country_cannot_claim_one_carrier_name() -> None:
    with pytest.raises(InvalidCatalogue, match='both claim carrier "globe"'):
        check_catalogue(
            catalogue(
                operator("ph-a", carrier_names=("Globe",)),
                operator("ph-b", carrier_names=("globe",)),
            )
        )


def test_operators_of_different_countries_may_share_a_carrier_name() -> None:
    check_catalogue(
        catalogue(
            operator("ph-airtel", carrier_names=("Airtel",)),
            operator("ke-airtel", country="KE", carrier_names=("Airtel",)),
            countries=(PHILIPPINES, KENYA),
        )
    )


@pytest.mark.parametrize(
    ("country", "message"),
    [
        (Country("ph", "Philippines", "PHP"), "two capital letters"),
        (Country("PHL", "Philippines", "PHP"), "two capital letters"),
        (Country("PH", "", "PHP"), "name"),
        (Country("PH", "Philippines", "P"), "three capital letters"),
    ],
)
def test_a_broken_country_is_refused(country: Country, message: str) -> None:
    with pytest.raises(InvalidCatalogue, match=message):
        check_catalogue(catalogue(operator("ph-globe"), countries=(country,)))


def test_a_country_appears_once() -> None:
    with pytest.raises(InvalidCatalogue, match="more than once"):
        check_catalogue(catalogue(operator("ph-globe"), countries=(PHILIPPINES, PHILIPPINES)))


def test_every_country_has_an_operator() -> None:
    with pytest.raises(InvalidCatalogue, match="KE has no operators"):
        check_catalogue(catalogue(operator("ph-globe"), countries=(PHILIPPINES, KENYA)))


def test_an_empty_catalogue_is_refused() -> None:
    with pytest.raises(InvalidCatalogue, match="no operators"):
        check_catalogue(catalogue(countries=()))
