"""Catalogue files: JSON and CSV read back exactly what was written, and bad files say why."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tambuli.errors import InvalidCatalogue
from tambuli.topups.builtin_catalogue import BUILTIN_CATALOGUE
from tambuli.topups.catalogue import (
    Catalogue,
    Country,
    Operator,
    Product,
    ProductKind,
    check_catalogue,
)
from tambuli.topups.catalogue_files import (
    CSV_COLUMNS,
    read_catalogue_csv,
    read_catalogue_json,
    write_catalogue_csv,
    write_catalogue_json,
)

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)
HEADER = ",".join(CSV_COLUMNS)
GLOBE_25 = (
    "PH,Philippines,PHP,ph-globe,Globe,PHP,2,Globe|TM,63917|63905,1350,fixed,25.00,,,0.468750,2500"
)
Reader = Callable[[str], Catalogue]


def csv_with(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def globe_row(**cells: str) -> str:
    """The Globe 25-peso row with some cells replaced."""
    values = dict(zip(CSV_COLUMNS, GLOBE_25.split(","), strict=True))
    values.update(cells)
    return ",".join(values[column] for column in CSV_COLUMNS)


def globe_json(**product: Any) -> str:
    """A one-operator JSON catalogue whose product has some fields replaced."""
    document: dict[str, Any] = json.loads(
        write_catalogue_json(read_catalogue_csv(csv_with(GLOBE_25)))
    )
    document["operators"][0]["products"][0].update(product)
    return json.dumps(document)


# --- round trips ---------------------------------------------------------------------------
def test_the_built_in_catalogue_survives_a_json_round_trip() -> None:
    assert read_catalogue_json(write_catalogue_json(BUILTIN_CATALOGUE)) == BUILTIN_CATALOGUE


def test_the_built_in_catalogue_survives_a_csv_round_trip() -> None:
    assert read_catalogue_csv(write_catalogue_csv(BUILTIN_CATALOGUE)) == BUILTIN_CATALOGUE


def test_json_and_csv_describe_the_same_catalogue() -> None:
    via_csv = read_catalogue_csv(write_catalogue_csv(BUILTIN_CATALOGUE))
    assert read_catalogue_json(write_catalogue_json(via_csv)) == BUILTIN_CATALOGUE


def test_a_csv_row_reads_as_exact_integers() -> None:
    [globe] = read_catalogue_csv(csv_with(GLOBE_25)).operators
    assert globe.carrier_names == ("Globe", "TM")
    assert globe.prefixes == ("63917", "63905")
    assert globe.products == (Product(ProductKind.FIXED, 2500, None, None, 468_750, 2500),)


def test_the_csv_form_writes_amounts_and_prices_as_exact_decimals() -> None:
    written = write_catalogue_csv(read_catalogue_csv(csv_with(GLOBE_25)))
    assert written == csv_with(GLOBE_25)


def test_a_range_reads_from_json_with_its_step_and_unit_price() -> None:
    text = json.dumps(
        {
            "countries": [{"code": "KE", "name": "Kenya", "local_currency": "KES"}],
            "operators": [
                {
                    "code": "ke-safaricom",
                    "country": "KE",
                    "name": "Safaricom",
                    "currency": "KES",
                    "minor_digits": 2,
                    "products": [
                        {
                            "kind": "range",
                            "amount": "10",
                            "range_max": 10000,
                            "range_step": "1.00",
                            "price_usd": "0.00814",
                            "received_minor": 100,
                        }
                    ],
                }
            ],
        }
    )
    [safaricom] = read_catalogue_json(text).operators
    assert safaricom.products == (Product(ProductKind.RANGE, 1000, 1_000_000, 100, 8140, 100),)
    assert safaricom.carrier_names == () and safaricom.provider_ref == ""


def test_json_numbers_with_fractions_are_read_exactly() -> None:
    [globe] = read_catalogue_json(globe_json(price_usd=0.468751)).operators
    assert globe.products[0].price_micro == 468_751


def test_spreadsheet_habits_are_forgiven_in_csv() -> None:
    text = "\ufeff" + csv_with(GLOBE_25.replace("Globe|TM", " Globe | TM ")).replace("\n", "\r\n")
    [globe] = read_catalogue_csv(text).operators
    assert globe.carrier_names == ("Globe", "TM")


def test_csv_columns_may_come_in_any_order() -> None:
    columns = list(reversed(CSV_COLUMNS))
    row = ",".join(reversed(GLOBE_25.split(",")))
    assert read_catalogue_csv(csv_with(row, header=",".join(columns))) == read_catalogue_csv(
        csv_with(GLOBE_25)
    )


_TEXT = (
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=12)
    .map(str.strip)
    .filter(lambda t: t and "|" not in t and not t.startswith(("=", "+", "-", "@")))
)


@st.composite
def products(draw: st.DrawFn, minor_digits: int) -> tuple[Product, ...]:
    limit = 10**9 * 10**minor_digits
    amounts = draw(st.sets(st.integers(1, limit), min_size=0, max_size=4))
    chosen = [
        Product(
            ProductKind.FIXED,
            amount,
            None,
            None,
            draw(st.integers(1, 10**15)),
            draw(st.integers(1, 10**15)),
        )
        for amount in amounts
    ]
    if not chosen or draw(st.booleans()):
        low = draw(st.integers(1, limit // 2))
        step = draw(st.integers(1, limit // 4))
        steps = draw(st.integers(0, (limit - low) // step))
        chosen.append(
            Product(
                ProductKind.RANGE,
                low,
                low + steps * step,
                step,
                draw(st.integers(1, 10**15)),
                draw(st.integers(1, 10**15)),
            )
        )
    return tuple(chosen)


@st.composite
def catalogues(draw: st.DrawFn) -> Catalogue:
    codes = draw(
        st.lists(st.from_regex(r"[A-Z]{2}", fullmatch=True), min_size=1, max_size=3, unique=True)
    )
    countries = tuple(
        Country(code, draw(_TEXT), draw(st.from_regex(r"[A-Z]{3}", fullmatch=True)))
        for code in codes
    )
    operators = []
    for code in codes:
        for index in range(draw(st.integers(1, 2))):
            digits = draw(st.integers(0, 6))
            reference = draw(st.one_of(st.just(""), _TEXT))
            operators.append(
                Operator(
                    code=f"{code.lower()}-{index}",
                    country=code,
                    name=draw(_TEXT),
                    currency=draw(st.from_regex(r"[A-Z]{3}", fullmatch=True)),
                    minor_digits=digits,
                    # Tagged with the operator so two operators never claim the same one.
                    carrier_names=tuple(
                        f"{index}{name}" for name in draw(st.lists(_TEXT, max_size=3, unique=True))
                    ),
                    prefixes=tuple(
                        f"{index}{prefix}"
                        for prefix in draw(
                            st.lists(
                                st.from_regex(r"[0-9]{1,8}", fullmatch=True),
                                max_size=3,
                                unique=True,
                            )
                        )
                    ),
                    provider_ref=f"{code}{index}{reference}" if reference else "",
                    products=draw(products(digits)),
                )
            )
    return Catalogue(countries=countries, operators=tuple(operators))


@PROPERTY_SETTINGS
@given(catalogues())
def test_any_valid_catalogue_survives_both_round_trips(catalogue: Catalogue) -> None:
    check_catalogue(catalogue)
    assert read_catalogue_json(write_catalogue_json(catalogue)) == catalogue
    assert read_catalogue_csv(write_catalogue_csv(catalogue)) == catalogue


# --- bad files -----------------------------------------------------------------------------
BAD_CSV = [
    ("", "empty"),
    ("   \n\n", "empty"),
    (csv_with(GLOBE_25, header=HEADER.replace("price_usd", "price")), 'unknown column "price"'),
    (csv_with(GLOBE_25.rsplit(",", 1)[0]), "Line 2: 15 columns, the header has 16"),
    (csv_with(GLOBE_25.rsplit(",", 1)[0], header=HEADER.replace(",received_minor", "")), "missing"),
    (csv_with(GLOBE_25, header=HEADER.replace("kind", "amount")), "more than once"),
    (csv_with(GLOBE_25 + ",extra"), "Line 2: 17 columns"),
    (csv_with(globe_row(amount="25.001")), "at most 2 digits"),
    (csv_with(globe_row(amount="twenty")), "decimal amount"),
    (csv_with(globe_row(amount="1e3")), "decimal amount"),
    (csv_with(globe_row(amount="NaN")), "decimal amount"),
    (csv_with(globe_row(amount="")), "decimal amount"),
    (csv_with(globe_row(amount="-25")), "decimal amount"),
    (csv_with(globe_row(price_usd="-0.5")), 'Line 2 (operator "ph-globe"): "price_usd"'),
    (csv_with(globe_row(price_usd="0")), "greater than zero"),
    (csv_with(globe_row(price_usd="0.0000001")), "at most 6 digits"),
    (csv_with(globe_row(received_minor="25.00")), "whole number"),
    (csv_with(globe_row(received_minor="9" * 40)), "whole number"),
    (csv_with(globe_row(minor_digits="9")), "0..6"),
    (csv_with(globe_row(minor_digits="two")), "whole number"),
    (csv_with(globe_row(kind="bundle")), '"fixed" or "range"'),
    (csv_with(globe_row(country="P1")), 'Country code "P1"'),
    (csv_with(globe_row(range_max="50.00")), "no range"),
    (csv_with(globe_row(kind="range", range_max="50.00", range_step="")), "needs a maximum"),
    (csv_with(globe_row(carrier_names="Globe||TM")), "empty entry"),
    (csv_with(GLOBE_25, globe_row(operator_name="Globe Telecom", amount="50.00")), "line 2"),
    (csv_with(GLOBE_25, globe_row(country_name="Pilipinas", operator="ph-smart")), "line 2"),
    (csv_with(GLOBE_25, GLOBE_25), "25.00 appears more than once"),
    (csv_with('PH,"Philippines'), "not valid CSV"),
    (csv_with("x" * 200_000), "not valid CSV"),
]


@pytest.mark.parametrize(("text", "message"), BAD_CSV)
def test_a_bad_csv_file_is_refused_saying_why(text: str, message: str) -> None:
    with pytest.raises(InvalidCatalogue) as raised:
        read_catalogue_csv(text)
    assert message in raised.value.message


BAD_JSON = [
    ("", "not valid JSON"),
    ("{", "not valid JSON"),
    ("[]", "JSON object"),
    ('{"countries": [], "operators": [], "extra": 1}', 'unknown field "extra"'),
    ('{"countries": []}', '"operators" is missing'),
    ('{"countries": {}, "operators": []}', "must be a list"),
    ('{"countries": [], "operators": []}', "no operators"),
    ('{"countries": [1], "operators": []}', "countries[0] must be a JSON object"),
    ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ('{"countries": [], "operators": [' + "1" * 5000 + "]}", "not valid JSON"),
    (globe_json(amount=25.555), "at most 2 digits"),
    (globe_json(amount=1e30), "decimal amount"),
    (globe_json(amount=True), "integer or a decimal string"),
    (globe_json(amount=None), "integer or a decimal string"),
    (globe_json(price_usd=-1), "greater than zero"),
    (globe_json(price_usd="-0.5"), "decimal amount"),
    (globe_json(received_minor=True), "whole number"),
    (globe_json(received_minor=-5), "received amount must be above zero"),
    (globe_json(kind=1), '"fixed" or "range"'),
    (globe_json(colour="red"), 'unknown field "colour"'),
]


@pytest.mark.parametrize(("text", "message"), BAD_JSON)
def test_a_bad_json_file_is_refused_saying_why(text: str, message: str) -> None:
    with pytest.raises(InvalidCatalogue) as raised:
        read_catalogue_json(text)
    assert message in raised.value.message


def test_an_operator_of_an_unknown_country_is_refused() -> None:
    document = json.loads(globe_json())
    document["countries"] = []
    with pytest.raises(InvalidCatalogue, match='"ph-globe": unknown country "PH"'):
        read_catalogue_json(json.dumps(document))


def test_duplicate_operator_codes_are_refused() -> None:
    document = json.loads(globe_json())
    document["operators"].append(document["operators"][0])
    with pytest.raises(InvalidCatalogue, match='"ph-globe" appears more than once'):
        read_catalogue_json(json.dumps(document))


def test_json_field_types_are_checked_before_use() -> None:
    document = json.loads(globe_json())
    document["operators"][0]["carrier_names"] = "Globe"
    with pytest.raises(
        InvalidCatalogue, match='operators\\[0\\] \\("ph-globe"\\): "carrier_names"'
    ):
        read_catalogue_json(json.dumps(document))
    document["operators"][0]["carrier_names"] = [1]
    with pytest.raises(InvalidCatalogue, match="list of texts"):
        read_catalogue_json(json.dumps(document))
    document["operators"][0]["carrier_names"] = []
    document["operators"][0]["minor_digits"] = "2"
    assert read_catalogue_json(json.dumps(document)).operators[0].minor_digits == 2


@pytest.mark.parametrize("reader", [read_catalogue_csv, read_catalogue_json])
@pytest.mark.parametrize(
    "garbage",
    [
        "\x00\x01\x02\xff\xfe",
        bytes(range(256)).decode("latin-1"),
        "\ud800 broken surrogate",
        "PK\x03\x04\x14\x00\x06\x00",
        "\ufffd\ufffd\ufffd",
        "\x00" * 1000,
    ],
)
def test_garbage_is_refused_as_an_invalid_catalogue(reader: Reader, garbage: str) -> None:
    with pytest.raises(InvalidCatalogue):
        reader(garbage)


@PROPERTY_SETTINGS
@given(st.text(max_size=400))
def test_any_text_reads_as_a_catalogue_or_an_invalid_catalogue(text: str) -> None:
    for reader in (read_catalogue_csv, read_catalogue_json):
        with contextlib.suppress(InvalidCatalogue):
            reader(text)


@PROPERTY_SETTINGS
@given(st.data())
def test_a_damaged_built_in_file_reads_or_is_refused_cleanly(data: st.DataObject) -> None:
    for write, reader in (
        (write_catalogue_csv, read_catalogue_csv),
        (write_catalogue_json, read_catalogue_json),
    ):
        text = write(BUILTIN_CATALOGUE)
        position = data.draw(st.integers(0, len(text) - 1))
        replacement = data.draw(st.text(max_size=3))
        with contextlib.suppress(InvalidCatalogue):
            reader(text[:position] + replacement + text[position + 1 :])
