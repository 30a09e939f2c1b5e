"""The airtime top-up catalogue: countries, operators, the amounts they sell and their prices.

Pure rules, no I/O. Amounts are integers in minor units of the operator's currency, prices integer
micro-USD, and what a recipient receives integer minor units of the country's local currency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from tambuli.errors import InvalidCatalogue, NoTopupOperator
from tambuli.topups.selection import Denominations, format_amount

# The same ceiling parse_amount applies to an amount typed by a caller.
MAX_WHOLE_UNITS = 1_000_000_000
# A billion USD in micro-USD, and as many minor units received: far above any real top-up, and
# well inside the 64-bit integer columns of both databases.
MAX_PRICE_MICRO = 10**15
MAX_RECEIVED_MINOR = 10**15
MAX_MINOR_DIGITS = 6
# Column sizes of the catalogue tables.
MAX_CODE_LENGTH = 50
MAX_NAME_LENGTH = 100
# E.164 numbers have at most 15 digits, so a longer prefix can never match.
MAX_PREFIX_LENGTH = 15

_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")
# Codes appear in files, top-up records and URLs: keep them to a slug.
_OPERATOR_CODE = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_PREFIX = re.compile(r"[0-9]+")
# Control characters would hide in a table and break the CSV form.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Spreadsheet programs run a cell starting with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@")


class ProductKind(StrEnum):
    """How a product states the amounts it sells."""

    FIXED = "fixed"  # one amount, with its own price and received value
    RANGE = "range"  # every amount from amount_minor to range_max in range_step steps


@dataclass(frozen=True)
class Country:
    """A country top-ups can go to, and the currency its recipients receive."""

    code: str
    name: str
    local_currency: str


@dataclass(frozen=True)
class Product:
    """One fixed amount, or a stepped range of amounts, an operator sells.

    Fixed: `price_micro` and `received_minor` are for `amount_minor` itself. Range: both are per
    whole unit of the operator's currency, so any amount in the range can be priced exactly.
    """

    kind: ProductKind
    amount_minor: int
    range_max: int | None
    range_step: int | None
    price_micro: int
    received_minor: int

    def includes(self, amount_minor: int) -> bool:
        """Whether this product sells exactly `amount_minor`."""
        if self.kind is ProductKind.FIXED:
            return amount_minor == self.amount_minor
        if self.range_max is None or not self.range_step:
            return False
        return (
            self.amount_minor <= amount_minor <= self.range_max
            and (amount_minor - self.amount_minor) % self.range_step == 0
        )


def _order_product(product: Product) -> tuple[int, int, int, int, int, int]:
    """Fixed amounts ascending, then ranges: the order files and tables give back."""
    return (
        product.kind is ProductKind.RANGE,
        product.amount_minor,
        product.range_max or 0,
        product.range_step or 0,
        product.price_micro,
        product.received_minor,
    )


@dataclass(frozen=True)
class Operator:
    """A mobile operator whose airtime is sold in `currency`, and how to recognise its numbers.

    Products are kept in a canonical order, so equal content compares equal whichever file or
    table it came from.
    """

    code: str
    country: str
    name: str
    currency: str
    minor_digits: int
    carrier_names: tuple[str, ...]
    prefixes: tuple[str, ...]
    provider_ref: str
    products: tuple[Product, ...]
    _fixed: dict[int, Product] = field(init=False, repr=False, compare=False)
    _ranges: tuple[Product, ...] = field(init=False, repr=False, compare=False)
    _denominations: Denominations | None = field(
        init=False, repr=False, compare=False, default=None
    )

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.products, key=_order_product))
        object.__setattr__(self, "products", ordered)
        fixed = {p.amount_minor: p for p in ordered if p.kind is ProductKind.FIXED}
        object.__setattr__(self, "_fixed", fixed)
        object.__setattr__(
            self, "_ranges", tuple(p for p in ordered if p.kind is ProductKind.RANGE)
        )

    def denominations(self) -> Denominations:
        """The amounts on sale, for select_amount; InvalidCatalogue if they break the rules."""
        if self._denominations is not None:
            return self._denominations
        if len(self._ranges) > 1:
            raise InvalidCatalogue(f'operator "{self.code}" has more than one range product')
        fixed = tuple(sorted(self._fixed))
        try:
            if self._ranges:
                [stepped] = self._ranges
                built = Denominations(
                    fixed=fixed,
                    range_min=stepped.amount_minor,
                    range_max=stepped.range_max,
                    range_step=stepped.range_step,
                    minor_digits=self.minor_digits,
                )
            else:
                built = Denominations(fixed=fixed, minor_digits=self.minor_digits)
        except ValueError as exc:
            raise InvalidCatalogue(f'operator "{self.code}": {exc}') from exc
        # The dataclass is frozen; the cache is invisible to equality and hashing.
        object.__setattr__(self, "_denominations", built)
        return built

    def price_for(self, amount_minor: int) -> int:
        """Micro-USD for sending `amount_minor`; ValueError if that amount is not on sale."""
        product = self._find_product(amount_minor)
        if product.kind is ProductKind.FIXED:
            return product.price_micro
        # Rounded up: a fraction of a micro-USD is charged, never given away.
        unit: int = 10**self.minor_digits
        return -(-(amount_minor * product.price_micro) // unit)

    def received_for(self, amount_minor: int) -> int:
        """What the recipient gets in local minor units; ValueError if the amount is not on sale."""
        product = self._find_product(amount_minor)
        if product.kind is ProductKind.FIXED:
            return product.received_minor
        # Rounded down: never promise more than the operator delivers.
        unit: int = 10**self.minor_digits
        return amount_minor * product.received_minor // unit

    def _find_product(self, amount_minor: int) -> Product:
        # A fixed product wins over a range covering the same amount: it is the specific offer.
        product = self._fixed.get(amount_minor)
        if product is not None:
            return product
        for stepped in self._ranges:
            if stepped.includes(amount_minor):
                return stepped
        shown = format_amount(amount_minor, self.minor_digits)
        raise ValueError(f'operator "{self.code}" does not sell {shown} {self.currency}')


@dataclass(frozen=True)
class Catalogue:
    """Every country and operator top-ups can go to, with lookups built once.

    Countries are kept sorted by code and operators by country and code, so equal content
    compares equal whichever file or table it came from.
    """

    countries: tuple[Country, ...]
    operators: tuple[Operator, ...]
    _by_code: dict[str, Operator] = field(init=False, repr=False, compare=False)
    _by_provider_ref: dict[str, Operator] = field(init=False, repr=False, compare=False)
    _countries: dict[str, Country] = field(init=False, repr=False, compare=False)
    # Per country: prefix -> operator, and the distinct prefix lengths, longest first.
    _prefixes: dict[str, tuple[dict[str, Operator], tuple[int, ...]]] = field(
        init=False, repr=False, compare=False
    )
    # (country, lower-cased carrier name) -> operator.
    _carriers: dict[tuple[str, str], Operator] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        countries = tuple(sorted(self.countries, key=lambda c: c.code))
        operators = tuple(sorted(self.operators, key=lambda o: (o.country, o.code)))
        object.__setattr__(self, "countries", countries)
        object.__setattr__(self, "operators", operators)
        object.__setattr__(self, "_by_code", {o.code: o for o in operators})
        object.__setattr__(
            self, "_by_provider_ref", {o.provider_ref: o for o in operators if o.provider_ref}
        )
        object.__setattr__(self, "_countries", {c.code: c for c in countries})
        by_country: dict[str, dict[str, Operator]] = {}
        carriers: dict[tuple[str, str], Operator] = {}
        for operator in operators:
            claimed = by_country.setdefault(operator.country, {})
            for prefix in operator.prefixes:
                claimed.setdefault(prefix, operator)
            for carrier in operator.carrier_names:
                carriers.setdefault((operator.country, carrier.casefold()), operator)
        prefixes = {
            country: (claimed, tuple(sorted({len(p) for p in claimed}, reverse=True)))
            for country, claimed in by_country.items()
        }
        object.__setattr__(self, "_prefixes", prefixes)
        object.__setattr__(self, "_carriers", carriers)

    def find_operator(self, code: str) -> Operator | None:
        """The operator with this code, or None."""
        return self._by_code.get(code)

    def find_by_provider_ref(self, ref: str) -> Operator | None:
        """The operator the provider knows by this ID, or None."""
        return self._by_provider_ref.get(ref) if ref else None

    def find_country(self, code: str) -> Country | None:
        """The country with this two-letter code, or None."""
        return self._countries.get(code)

    def detect_operator(self, digits: str, region: str, carrier_name: str) -> Operator:
        """The operator of a number: longest catalogue prefix, else its carrier name.

        `digits` is the E.164 number without "+", `region` its two-letter country and
        `carrier_name` what phonenumbers names the range holder ("" when unknown).
        NoTopupOperator when neither identifies an operator of that country.
        """
        claimed = self._prefixes.get(region)
        if claimed is not None:
            by_prefix, lengths = claimed
            for length in lengths:
                if length > len(digits):
                    continue
                operator = by_prefix.get(digits[:length])
                if operator is not None:
                    return operator
        if carrier_name:
            operator = self._carriers.get((region, carrier_name.casefold()))
            if operator is not None:
                return operator
        country = self._countries.get(region)
        where = f"{country.name} ({region})" if country is not None else region or "no country"
        raise NoTopupOperator(
            f"No top-up operator is known for +{digits} in {where}",
            {"phoneNumber": digits, "country": region},
        )


def check_catalogue(catalogue: Catalogue) -> None:
    """Raise InvalidCatalogue, naming the country, operator or product, if a rule is broken."""
    if not catalogue.operators:
        raise InvalidCatalogue("The catalogue has no operators")
    seen_countries: set[str] = set()
    for country in catalogue.countries:
        _check_country(country, seen_countries)
    used_countries: set[str] = set()
    seen_codes: set[str] = set()
    ref_owners: dict[str, str] = {}
    prefix_owners: dict[tuple[str, str], str] = {}
    carrier_owners: dict[tuple[str, str], str] = {}
    for operator in catalogue.operators:
        _check_operator(operator, seen_countries)
        if operator.code in seen_codes:
            raise InvalidCatalogue(f'Operator code "{operator.code}" appears more than once')
        seen_codes.add(operator.code)
        used_countries.add(operator.country)
        # A provider's "wrong operator" answer names one operator by this reference.
        if operator.provider_ref:
            owner = ref_owners.setdefault(operator.provider_ref, operator.code)
            if owner != operator.code:
                raise InvalidCatalogue(
                    f'Operators "{owner}" and "{operator.code}" both have provider reference '
                    f'"{operator.provider_ref}"'
                )
        # Two operators of one country claiming the same prefix or carrier would make the
        # detected operator depend on file order.
        for prefix in operator.prefixes:
            owner = prefix_owners.setdefault((operator.country, prefix), operator.code)
            if owner != operator.code:
                raise InvalidCatalogue(
                    f'Operators "{owner}" and "{operator.code}" both claim prefix {prefix}'
                )
        for carrier in operator.carrier_names:
            owner = carrier_owners.setdefault((operator.country, carrier.casefold()), operator.code)
            if owner != operator.code:
                raise InvalidCatalogue(
                    f'Operators "{owner}" and "{operator.code}" both claim carrier "{carrier}"'
                )
    # Both file formats list countries through their operators; an unused one could not be saved.
    for country in catalogue.countries:
        if country.code not in used_countries:
            raise InvalidCatalogue(f"Country {country.code} has no operators")


def _check_country(country: Country, seen: set[str]) -> None:
    if not _COUNTRY.fullmatch(country.code):
        raise InvalidCatalogue(
            f'Country code "{country.code}" must be two capital letters, e.g. PH'
        )
    if country.code in seen:
        raise InvalidCatalogue(f"Country {country.code} appears more than once")
    seen.add(country.code)
    _check_text(f"Country {country.code}", "name", country.name, MAX_NAME_LENGTH)
    if not _CURRENCY.fullmatch(country.local_currency):
        raise InvalidCatalogue(
            f'Country {country.code}: local currency "{country.local_currency}" must be three '
            "capital letters, e.g. PHP"
        )


def _check_operator(operator: Operator, countries: set[str]) -> None:
    where = f'Operator "{operator.code}"'
    if len(operator.code) > MAX_CODE_LENGTH or not _OPERATOR_CODE.fullmatch(operator.code):
        raise InvalidCatalogue(
            f"{where}: the code must be lower-case letters, digits and dashes, e.g. ph-globe, "
            f"at most {MAX_CODE_LENGTH} characters"
        )
    if operator.country not in countries:
        raise InvalidCatalogue(f'{where}: unknown country "{operator.country}"')
    _check_text(where, "name", operator.name, MAX_NAME_LENGTH)
    if not _CURRENCY.fullmatch(operator.currency):
        raise InvalidCatalogue(
            f'{where}: currency "{operator.currency}" must be three capital letters, e.g. PHP'
        )
    if not 0 <= operator.minor_digits <= MAX_MINOR_DIGITS:
        raise InvalidCatalogue(f"{where}: minor digits must be 0..{MAX_MINOR_DIGITS}")
    if operator.provider_ref:
        _check_text(where, "provider reference", operator.provider_ref, MAX_NAME_LENGTH)
    for carrier in operator.carrier_names:
        _check_text(where, "carrier name", carrier, MAX_NAME_LENGTH)
        # "|" separates carrier names in the CSV form.
        if "|" in carrier:
            raise InvalidCatalogue(f'{where}: carrier name "{carrier}" must not contain "|"')
    if len(set(operator.carrier_names)) != len(operator.carrier_names):
        raise InvalidCatalogue(f"{where}: a carrier name appears more than once")
    for prefix in operator.prefixes:
        if not _PREFIX.fullmatch(prefix) or len(prefix) > MAX_PREFIX_LENGTH:
            raise InvalidCatalogue(
                f'{where}: prefix "{prefix}" must be 1 to {MAX_PREFIX_LENGTH} digits with the '
                "country code, e.g. 63917"
            )
    if len(set(operator.prefixes)) != len(operator.prefixes):
        raise InvalidCatalogue(f"{where}: a prefix appears more than once")
    if not operator.products:
        raise InvalidCatalogue(f"{where} sells nothing: it needs at least one product")
    fixed_seen: set[int] = set()
    for product in operator.products:
        _check_product(operator, product)
        if product.kind is ProductKind.FIXED:
            if product.amount_minor in fixed_seen:
                shown = format_amount(product.amount_minor, operator.minor_digits)
                raise InvalidCatalogue(f"{where}: the amount {shown} appears more than once")
            fixed_seen.add(product.amount_minor)
    # Builds the Denominations, which also refuses a second range product.
    operator.denominations()


def _check_product(operator: Operator, product: Product) -> None:
    digits = operator.minor_digits
    shown = format_amount(product.amount_minor, digits)
    where = f'Operator "{operator.code}", {product.kind.value} product {shown}'
    largest = MAX_WHOLE_UNITS * 10**digits
    if not 0 < product.amount_minor <= largest:
        raise InvalidCatalogue(f"{where}: the amount must be above zero and at most {largest}")
    if not 0 < product.price_micro <= MAX_PRICE_MICRO:
        raise InvalidCatalogue(f"{where}: the price must be above zero")
    if not 0 < product.received_minor <= MAX_RECEIVED_MINOR:
        raise InvalidCatalogue(f"{where}: the received amount must be above zero")
    if product.kind is ProductKind.FIXED:
        if product.range_max is not None or product.range_step is not None:
            raise InvalidCatalogue(f"{where}: a fixed product has no range maximum or step")
        return
    if product.range_max is None or product.range_step is None:
        raise InvalidCatalogue(f"{where}: a range product needs a maximum and a step")
    if not product.amount_minor <= product.range_max <= largest:
        raise InvalidCatalogue(f"{where}: the range maximum must be at least the minimum")
    if not 0 < product.range_step <= largest:
        raise InvalidCatalogue(f"{where}: the range step must be above zero")
    if (product.range_max - product.amount_minor) % product.range_step:
        raise InvalidCatalogue(
            f"{where}: the range maximum must be the minimum plus a whole number of steps"
        )


def _check_text(where: str, what: str, value: str, max_length: int) -> None:
    if not value or value != value.strip():
        raise InvalidCatalogue(f"{where}: the {what} must not be empty or start or end with space")
    if len(value) > max_length:
        raise InvalidCatalogue(f"{where}: the {what} must be at most {max_length} characters")
    if _CONTROL.search(value):
        raise InvalidCatalogue(f"{where}: the {what} must not contain control characters")
    if value.startswith(_FORMULA_STARTS):
        raise InvalidCatalogue(f"{where}: the {what} must not start with = + - or @")
