"""The top-up catalogue as a JSON or CSV file: exact decimal text in, exact integers out.

Amounts are written in the operator's currency with its digits ("25.00"), prices in USD with six
digits ("0.468750"), and what the recipient receives as an integer in minor units of the
country's local currency. Every problem is an InvalidCatalogue naming where it is.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from tambuli.errors import InvalidCatalogue, InvalidField
from tambuli.topups.catalogue import (
    MAX_MINOR_DIGITS,
    Catalogue,
    Country,
    Operator,
    Product,
    ProductKind,
    check_catalogue,
)
from tambuli.topups.selection import format_amount, parse_amount

PRICE_DIGITS = 6
CSV_COLUMNS = (
    "country",
    "country_name",
    "local_currency",
    "operator",
    "operator_name",
    "currency",
    "minor_digits",
    "carrier_names",
    "prefixes",
    "provider_ref",
    "kind",
    "amount",
    "range_max",
    "range_step",
    "price_usd",
    "received_minor",
)
_LIST_SEPARATOR = "|"
_COUNTRY_KEYS = frozenset({"code", "name", "local_currency"})
_OPERATOR_KEYS = frozenset(
    {"code", "country", "name", "currency", "minor_digits", "carrier_names", "prefixes"}
    | {"provider_ref", "products"}
)
_OPERATOR_OPTIONAL = frozenset({"carrier_names", "prefixes", "provider_ref"})
_PRODUCT_KEYS = frozenset(
    {"kind", "amount", "range_max", "range_step", "price_usd", "received_minor"}
)
_PRODUCT_OPTIONAL = frozenset({"range_max", "range_step"})
# More digits than any bound in the catalogue; stops int() from chewing on megabytes of them.
_MAX_INTEGER_DIGITS = 18
_DIGITS = re.compile(r"[0-9]+")
_Described = TypeVar("_Described", Country, Operator)


@dataclass(frozen=True)
class _JsonNumber:
    """A JSON number with a fraction or exponent, kept as its text so no float ever exists."""

    text: str


def read_catalogue_json(text: str) -> Catalogue:
    """A checked catalogue from JSON text; InvalidCatalogue on anything wrong."""
    try:
        document = json.loads(text.removeprefix("\ufeff"), parse_float=_JsonNumber)
    except (ValueError, RecursionError) as exc:
        raise InvalidCatalogue(f"The file is not valid JSON: {_describe_json_error(exc)}") from exc
    if not isinstance(document, dict):
        raise InvalidCatalogue('The file must be a JSON object with "countries" and "operators"')
    _check_keys("The file", document, frozenset({"countries", "operators"}), frozenset())
    countries = _read_list("The file", document, "countries")
    operators = _read_list("The file", document, "operators")
    catalogue = Catalogue(
        countries=tuple(_read_json_country(i, entry) for i, entry in enumerate(countries)),
        operators=tuple(_read_json_operator(i, entry) for i, entry in enumerate(operators)),
    )
    check_catalogue(catalogue)
    return catalogue


def write_catalogue_json(catalogue: Catalogue) -> str:
    """The catalogue as indented JSON text that read_catalogue_json reads back unchanged."""
    document = {
        "countries": [
            {"code": c.code, "name": c.name, "local_currency": c.local_currency}
            for c in catalogue.countries
        ],
        "operators": [
            {
                "code": o.code,
                "country": o.country,
                "name": o.name,
                "currency": o.currency,
                "minor_digits": o.minor_digits,
                "carrier_names": list(o.carrier_names),
                "prefixes": list(o.prefixes),
                "provider_ref": o.provider_ref,
                "products": [_write_json_product(o, p) for p in o.products],
            }
            for o in catalogue.operators
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def read_catalogue_csv(text: str) -> Catalogue:
    """A checked catalogue from CSV text, one product a row; InvalidCatalogue on anything wrong."""
    # strict: a stray quote is an error, not a field quietly swallowing the rest of the file.
    rows = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    countries: dict[str, tuple[int, Country]] = {}
    operators: dict[str, tuple[int, Operator]] = {}
    products: dict[str, list[Product]] = {}
    columns: dict[str, int] | None = None
    try:
        for cells in rows:
            if not any(cell.strip() for cell in cells):
                continue
            if columns is None:
                columns = _read_csv_header(rows.line_num, cells)
                continue
            line = rows.line_num
            if len(cells) != len(columns):
                raise InvalidCatalogue(
                    f"Line {line}: {len(cells)} columns, the header has {len(columns)}"
                )
            values = {name: cells[index].strip() for name, index in columns.items()}
            country, operator, product = _read_csv_row(line, values)
            _merge_row(line, countries, country.code, country, "country")
            _merge_row(line, operators, operator.code, operator, "operator")
            products.setdefault(operator.code, []).append(product)
    except csv.Error as exc:
        raise InvalidCatalogue(f"Line {rows.line_num}: not valid CSV: {exc}") from exc
    if columns is None:
        raise InvalidCatalogue("The file is empty: it needs a header and one row per product")
    catalogue = Catalogue(
        countries=tuple(country for _, country in countries.values()),
        operators=tuple(
            replace(operator, products=tuple(products[code]))
            for code, (_, operator) in operators.items()
        ),
    )
    check_catalogue(catalogue)
    return catalogue


def write_catalogue_csv(catalogue: Catalogue) -> str:
    """The catalogue as CSV text, one row per product, that read_catalogue_csv reads back."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for operator in catalogue.operators:
        country = catalogue.find_country(operator.country)
        if country is None:
            raise InvalidCatalogue(f'Operator "{operator.code}": unknown country')
        for product in operator.products:
            digits = operator.minor_digits
            writer.writerow(
                (
                    country.code,
                    country.name,
                    country.local_currency,
                    operator.code,
                    operator.name,
                    operator.currency,
                    str(digits),
                    _LIST_SEPARATOR.join(operator.carrier_names),
                    _LIST_SEPARATOR.join(operator.prefixes),
                    operator.provider_ref,
                    product.kind.value,
                    format_amount(product.amount_minor, digits),
                    _format_optional(product.range_max, digits),
                    _format_optional(product.range_step, digits),
                    format_amount(product.price_micro, PRICE_DIGITS),
                    str(product.received_minor),
                )
            )
    return buffer.getvalue()


def _format_optional(amount: int | None, minor_digits: int) -> str:
    return "" if amount is None else format_amount(amount, minor_digits)


# --- JSON ----------------------------------------------------------------------------------
def _describe_json_error(exc: ValueError | RecursionError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)


def _read_json_country(index: int, entry: object) -> Country:
    where = f"countries[{index}]"
    fields = _as_object(where, entry)
    _check_keys(where, fields, _COUNTRY_KEYS, frozenset())
    return Country(
        code=_read_text(where, fields, "code"),
        name=_read_text(where, fields, "name"),
        local_currency=_read_text(where, fields, "local_currency"),
    )


def _read_json_operator(index: int, entry: object) -> Operator:
    fields = _as_object(f"operators[{index}]", entry)
    code = fields.get("code")
    where = f'operators[{index}] ("{code}")' if isinstance(code, str) else f"operators[{index}]"
    _check_keys(where, fields, _OPERATOR_KEYS, _OPERATOR_OPTIONAL)
    minor_digits = _read_minor_digits(where, fields["minor_digits"])
    products = _read_list(where, fields, "products")
    return Operator(
        code=_read_text(where, fields, "code"),
        country=_read_text(where, fields, "country"),
        name=_read_text(where, fields, "name"),
        currency=_read_text(where, fields, "currency"),
        minor_digits=minor_digits,
        carrier_names=_read_texts(where, fields, "carrier_names"),
        prefixes=_read_texts(where, fields, "prefixes"),
        provider_ref=_read_text(where, fields, "provider_ref") if "provider_ref" in fields else "",
        products=tuple(
            _read_json_product(f"{where} products[{i}]", minor_digits, item)
            for i, item in enumerate(products)
        ),
    )


def _read_json_product(where: str, minor_digits: int, entry: object) -> Product:
    fields = _as_object(where, entry)
    _check_keys(where, fields, _PRODUCT_KEYS, _PRODUCT_OPTIONAL)
    return _build_product(
        where,
        minor_digits,
        kind=fields["kind"],
        amount=fields["amount"],
        range_max=fields.get("range_max"),
        range_step=fields.get("range_step"),
        price=fields["price_usd"],
        received=fields["received_minor"],
    )


def _write_json_product(operator: Operator, product: Product) -> dict[str, object]:
    digits = operator.minor_digits
    written: dict[str, object] = {
        "kind": product.kind.value,
        "amount": format_amount(product.amount_minor, digits),
    }
    if product.range_max is not None:
        written["range_max"] = format_amount(product.range_max, digits)
    if product.range_step is not None:
        written["range_step"] = format_amount(product.range_step, digits)
    written["price_usd"] = format_amount(product.price_micro, PRICE_DIGITS)
    written["received_minor"] = product.received_minor
    return written


def _as_object(where: str, entry: object) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise InvalidCatalogue(f"{where} must be a JSON object")
    return entry


def _check_keys(
    where: str, fields: Mapping[str, object], allowed: frozenset[str], optional: frozenset[str]
) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise InvalidCatalogue(f"{where}: unknown field {json.dumps(unknown[0])}")
    missing = sorted(allowed - optional - set(fields))
    if missing:
        raise InvalidCatalogue(f'{where}: "{missing[0]}" is missing')


def _read_list(where: str, fields: Mapping[str, object], key: str) -> list[object]:
    value = fields[key]
    if not isinstance(value, list):
        raise InvalidCatalogue(f'{where}: "{key}" must be a list')
    return value


def _read_text(where: str, fields: Mapping[str, object], key: str) -> str:
    value = fields[key]
    if not isinstance(value, str):
        raise InvalidCatalogue(f'{where}: "{key}" must be text')
    return value


def _read_texts(where: str, fields: Mapping[str, object], key: str) -> tuple[str, ...]:
    if key not in fields:
        return ()
    values = _read_list(where, fields, key)
    if not all(isinstance(value, str) for value in values):
        raise InvalidCatalogue(f'{where}: "{key}" must be a list of texts')
    return tuple(str(value) for value in values)


# --- CSV -----------------------------------------------------------------------------------
def _read_csv_header(line: int, cells: list[str]) -> dict[str, int]:
    names = [cell.strip().lower() for cell in cells]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidCatalogue(f'Line {line}: the column "{duplicates[0]}" appears more than once')
    unknown = [name for name in names if name not in CSV_COLUMNS]
    if unknown:
        raise InvalidCatalogue(
            f'Line {line}: unknown column "{unknown[0]}"; the columns are {", ".join(CSV_COLUMNS)}'
        )
    missing = [name for name in CSV_COLUMNS if name not in names]
    if missing:
        raise InvalidCatalogue(f'Line {line}: the column "{missing[0]}" is missing')
    return {name: index for index, name in enumerate(names)}


def _read_csv_row(line: int, values: dict[str, str]) -> tuple[Country, Operator, Product]:
    where = f"Line {line}"
    if values["operator"]:
        where = f'Line {line} (operator "{values["operator"]}")'
    minor_digits = _read_minor_digits(where, values["minor_digits"])
    country = Country(
        code=values["country"], name=values["country_name"], local_currency=values["local_currency"]
    )
    operator = Operator(
        code=values["operator"],
        country=values["country"],
        name=values["operator_name"],
        currency=values["currency"],
        minor_digits=minor_digits,
        carrier_names=_split_list(where, "carrier_names", values["carrier_names"]),
        prefixes=_split_list(where, "prefixes", values["prefixes"]),
        provider_ref=values["provider_ref"],
        products=(),
    )
    product = _build_product(
        where,
        minor_digits,
        kind=values["kind"],
        amount=values["amount"],
        range_max=values["range_max"] or None,
        range_step=values["range_step"] or None,
        price=values["price_usd"],
        received=values["received_minor"],
    )
    return country, operator, product


def _split_list(where: str, column: str, cell: str) -> tuple[str, ...]:
    if not cell:
        return ()
    parts = tuple(part.strip() for part in cell.split(_LIST_SEPARATOR))
    if not all(parts):
        raise InvalidCatalogue(f'{where}: "{column}" has an empty entry between "|"')
    return parts


def _merge_row(
    line: int, seen: dict[str, tuple[int, _Described]], key: str, value: _Described, what: str
) -> None:
    """Remember the first row's version of a country or operator; later rows must agree."""
    first = seen.setdefault(key, (line, value))
    if first[1] != value:
        raise InvalidCatalogue(
            f'Line {line}: the {what} "{key}" is described differently on line {first[0]}'
        )


# --- values shared by both formats ---------------------------------------------------------
def _build_product(
    where: str,
    minor_digits: int,
    *,
    kind: object,
    amount: object,
    range_max: object,
    range_step: object,
    price: object,
    received: object,
) -> Product:
    if kind not in (ProductKind.FIXED.value, ProductKind.RANGE.value):
        raise InvalidCatalogue(f'{where}: "kind" must be "fixed" or "range"')
    return Product(
        kind=ProductKind(str(kind)),
        amount_minor=_read_decimal(where, "amount", amount, minor_digits),
        range_max=_read_optional_decimal(where, "range_max", range_max, minor_digits),
        range_step=_read_optional_decimal(where, "range_step", range_step, minor_digits),
        price_micro=_read_decimal(where, "price_usd", price, PRICE_DIGITS),
        received_minor=_read_integer(where, "received_minor", received),
    )


def _read_decimal(where: str, field: str, raw: object, minor_digits: int) -> int:
    text = raw.text if isinstance(raw, _JsonNumber) else raw
    try:
        return parse_amount(field, text, minor_digits)
    except InvalidField as exc:
        raise InvalidCatalogue(f"{where}: {exc.message}", {"field": field}) from exc


def _read_optional_decimal(where: str, field: str, raw: object, minor_digits: int) -> int | None:
    return None if raw is None else _read_decimal(where, field, raw, minor_digits)


def _read_integer(where: str, field: str, raw: object) -> int:
    # bool is a subclass of int; JSON true is not a count.
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and _DIGITS.fullmatch(raw) and len(raw) <= _MAX_INTEGER_DIGITS:
        return int(raw)
    raise InvalidCatalogue(f'{where}: "{field}" must be a whole number', {"field": field})


def _read_minor_digits(where: str, raw: object) -> int:
    digits = _read_integer(where, "minor_digits", raw)
    if not 0 <= digits <= MAX_MINOR_DIGITS:
        raise InvalidCatalogue(f'{where}: "minor_digits" must be 0..{MAX_MINOR_DIGITS}')
    return digits
