"""Which channel carries a message: routes matched by country, prefix and operator, in file order.

A route lists channels in failover order and a sender rule saying which sender IDs it lets
through (and with which SMPP type of number and numbering plan). Everything here is pure; the
routes come from the channel config file (see docs/routing.md).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import phonenumbers
from phonenumbers import carrier
from phonenumbers.carrierdata import CARRIER_DATA

# The HandOff error of a message whose sender a route refuses, with no replacement to use.
SENDER_REFUSED_ERROR = "sender ID not allowed on this route"
# Longest alphanumeric sender ID the SMS network carries (GSM 03.40: 11 characters).
MAX_ALPHANUMERIC_SENDER = 11
# Numeric senders of at most this many digits (and no "+") are short codes.
MAX_SHORT_CODE_DIGITS = 8
# Distinct recipient numbers whose region and operator are remembered (about 200 bytes each).
NUMBER_CACHE_SIZE = 65_536

# SMPP 3.4 §5.2.5 type of number (TON) and §5.2.6 numbering plan indicator (NPI) values we use.
TON_INTERNATIONAL = 1
TON_NATIONAL = 2
TON_NETWORK_SPECIFIC = 3
TON_ALPHANUMERIC = 5
NPI_UNKNOWN = 0
NPI_E164 = 1

_NUMERIC_SENDER = re.compile(r"\+?[0-9]{1,15}")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
_LETTER = re.compile(r"[A-Za-z]")


class SenderKind(StrEnum):
    """Which sender IDs a route lets through."""

    ANY = "any"  # any well-formed sender: alphanumeric or numeric
    ALPHANUMERIC = "alphanumeric"  # only names like "TAMBULI" (at least one letter)
    NUMERIC = "numeric"  # only digits: a short code, a national or an international number


@dataclass(frozen=True)
class SenderRule:
    """The sender IDs a route accepts, what to use instead, and an optional fixed TON/NPI.

    `replacement` is sent instead of a sender that breaks the rule; when it is "" such a message
    is refused permanently with SENDER_REFUSED_ERROR. `ton` and `npi`, when given, replace the
    values derived from the sender's form (see resolve_sender).
    """

    kind: SenderKind = SenderKind.ANY
    replacement: str = ""
    ton: int | None = None
    npi: int | None = None


@dataclass(frozen=True)
class SenderAddress:
    """A sender ID as an SMSC takes it: the address and its SMPP TON and NPI."""

    address: str
    ton: int
    npi: int


@dataclass(frozen=True, kw_only=True)
class Route:
    """Recipients a set of channels serves, in failover order.

    Criteria: `countries` (ISO 3166 alpha-2, the region phonenumbers gives the number),
    `prefixes` (leading digits of the international number) and `operators` (phonenumbers'
    English carrier names, case-insensitive). A route matches when every kind of criterion it
    gives matches (AND across kinds) and, within a kind, any one value matches (OR). A route
    with no criteria matches every recipient.
    """

    name: str
    countries: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    channels: tuple[str, ...]
    sender: SenderRule = field(default_factory=SenderRule)

    def __post_init__(self) -> None:
        if not self.channels:
            raise ValueError(f'route "{self.name}" names no channel')


@dataclass(frozen=True)
class RouteChoice:
    """The route a recipient matched and the channel to hand the message to."""

    route: Route
    channel: str
    # False when no channel of the route was available: `channel` is then the route's first,
    # so the message is attempted (and retried) there instead of being lost.
    available: bool


@dataclass(frozen=True)
class _NumberFacts:
    """What phonenumbers says about a recipient: region code and carrier name (lower case)."""

    region: str
    operator: str


@functools.lru_cache(maxsize=NUMBER_CACHE_SIZE)
def _describe_number(number: str) -> _NumberFacts:
    # Keyed on the whole number, not a prefix: phonenumbers checks the whole number's type before
    # it names a carrier, and needs it to tell apart countries sharing a calling code (+1, +7).
    try:
        parsed = phonenumbers.parse("+" + number)
    except phonenumbers.NumberParseException:
        return _NumberFacts("", "")
    region = phonenumbers.region_code_for_number(parsed)
    if region is None and parsed.country_code is not None:
        # A number in no range phonenumbers knows is in its calling code's (main) country,
        # as contacts and prices place it.
        region = phonenumbers.region_code_for_country_code(parsed.country_code)
    if region is None or region == phonenumbers.UNKNOWN_REGION:
        region = ""
    return _NumberFacts(region, carrier.name_for_number(parsed, "en").lower())


class _CompiledRoute:
    """A route with its criteria as sets, ready to test recipients against."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.countries = frozenset(country.upper() for country in route.countries)
        self.prefixes = route.prefixes
        self.operators = frozenset(operator.lower() for operator in route.operators)

    def matches(self, number: str) -> bool:
        # Prefixes first: they cost nothing, and a miss spares the phonenumbers lookup.
        if self.prefixes and not number.startswith(self.prefixes):
            return False
        if self.countries and _describe_number(number).region not in self.countries:
            return False
        return not self.operators or _describe_number(number).operator in self.operators


class RouteTable:
    """The routes of a channel config, first match wins."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)
        self._compiled = tuple(_CompiledRoute(route) for route in self.routes)

    def find_route(self, recipient: str) -> Route | None:
        """The first route, in file order, whose criteria the recipient meets; None if none."""
        number = recipient.removeprefix("+")
        for compiled in self._compiled:
            if compiled.matches(number):
                return compiled.route
        return None

    def choose_channel(
        self, recipient: str, is_available: Callable[[str], bool]
    ) -> RouteChoice | None:
        """The recipient's route and its first available channel (else its first channel)."""
        route = self.find_route(recipient)
        if route is None:
            return None
        for name in route.channels:
            if is_available(name):
                return RouteChoice(route, name, available=True)
        return RouteChoice(route, route.channels[0], available=False)


def describe_sender(sender: str) -> SenderAddress | None:
    """The sender's SMPP address with TON/NPI derived from its form; None if it is malformed.

    - digits with a leading "+": international (TON 1, NPI 1), the "+" removed;
    - up to 8 digits: a short code, network specific (TON 3, NPI 0), the usual SMSC practice;
    - more digits starting with 0: a national number (TON 2, NPI 1);
    - other digits (9 to 15): international without the "+" (TON 1, NPI 1);
    - 1 to 11 printable ASCII characters with a letter: alphanumeric (TON 5, NPI 0).
    """
    if _NUMERIC_SENDER.fullmatch(sender):
        digits = sender.removeprefix("+")
        if sender.startswith("+"):
            return SenderAddress(digits, TON_INTERNATIONAL, NPI_E164)
        if len(digits) <= MAX_SHORT_CODE_DIGITS:
            return SenderAddress(digits, TON_NETWORK_SPECIFIC, NPI_UNKNOWN)
        if digits.startswith("0"):
            return SenderAddress(digits, TON_NATIONAL, NPI_E164)
        return SenderAddress(digits, TON_INTERNATIONAL, NPI_E164)
    if (
        len(sender) <= MAX_ALPHANUMERIC_SENDER
        and _PRINTABLE_ASCII.fullmatch(sender)
        and _LETTER.search(sender)
    ):
        return SenderAddress(sender, TON_ALPHANUMERIC, NPI_UNKNOWN)
    return None


def fits_sender_kind(kind: SenderKind, address: SenderAddress) -> bool:
    """Whether a well-formed sender address is of the kind a rule lets through."""
    if kind is SenderKind.ALPHANUMERIC:
        return address.ton == TON_ALPHANUMERIC
    if kind is SenderKind.NUMERIC:
        return address.ton != TON_ALPHANUMERIC
    return True


def resolve_sender(rule: SenderRule, sender: str) -> SenderAddress | None:
    """The address to send from under a route's sender rule; None if the message is refused.

    A malformed sender (empty, over 11 characters when alphanumeric, over 15 digits, not
    printable ASCII, neither a letter nor all digits) breaks every rule. A sender that breaks
    the rule is swapped for the rule's replacement, or refused when there is none. The rule's
    ton/npi override the derived ones.
    """
    address = describe_sender(sender)
    if address is None or not fits_sender_kind(rule.kind, address):
        if not rule.replacement:
            return None
        address = describe_sender(rule.replacement)
        if address is None:
            return None
    return SenderAddress(
        address.address,
        address.ton if rule.ton is None else rule.ton,
        address.npi if rule.npi is None else rule.npi,
    )


def list_operator_names(countries: Iterable[str] = ()) -> frozenset[str]:
    """The carrier names phonenumbers knows in these countries (in all countries if none)."""
    by_code = _index_carrier_names()
    codes = {str(phonenumbers.country_code_for_region(country.upper())) for country in countries}
    if not codes:
        codes = set(by_code)
    return frozenset().union(*(by_code.get(code, frozenset()) for code in codes))


@functools.cache
def _index_carrier_names() -> dict[str, frozenset[str]]:
    # Carrier prefixes start with the calling code; phonenumbers' own code table says how long
    # it is (no calling code is a prefix of another, so the first hit is the one).
    names: dict[str, set[str]] = {}
    for prefix, by_language in CARRIER_DATA.items():
        name = by_language.get("en")
        code = next(
            (
                prefix[:length]
                for length in (1, 2, 3)
                if int(prefix[:length]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE
            ),
            "",
        )
        if name and code:
            names.setdefault(code, set()).add(name)
    return {code: frozenset(found) for code, found in names.items()}
