"""The [[routes]] tables of the config file: where a route applies, its channels, its senders."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection

import phonenumbers

from tambuli.channels.config.routing import (
    Route,
    SenderKind,
    SenderRule,
    describe_sender,
    fits_sender_kind,
    list_operator_names,
)
from tambuli.channels.config.specs import SMPP_NPIS, SMPP_TONS
from tambuli.channels.config.toml_table import ConfigTable, read_name, show_value

_DIGITS = re.compile(r"[0-9]{1,15}")


def read_route(table: ConfigTable, channel_names: Collection[str]) -> Route:
    """One [[routes]] table, whose channels must be among channel_names."""
    table.refuse_unknown_keys(("name", "countries", "prefixes", "operators", "channels", "sender"))
    countries = tuple(country.upper() for country in table.list_of("countries", str, "strings"))
    for country in countries:
        if country not in phonenumbers.SUPPORTED_REGIONS:
            table.fail("countries", f'"{country}" is not an ISO 3166 alpha-2 country code')
    prefixes = table.list_of("prefixes", str, "strings")
    for prefix in prefixes:
        if not _DIGITS.fullmatch(prefix):
            table.fail("prefixes", f'"{prefix}" is not 1 to 15 digits (no "+")')
    operators = table.list_of("operators", str, "strings")
    known = list_operator_names(countries)
    known_lower = {name.lower() for name in known}
    for operator in operators:
        if operator.lower() not in known_lower:
            where = f"in {', '.join(countries)}" if countries else "anywhere"
            hint = difflib.get_close_matches(operator, known, n=3)
            hint_text = f" (did you mean {', '.join(hint)}?)" if hint else ""
            table.fail(
                "operators", f'phonenumbers knows no operator "{operator}" {where}{hint_text}'
            )
    channels = table.list_of("channels", str, "strings")
    if not channels:
        table.fail("channels", "is required: list at least one channel name")
    for channel in channels:
        if channel not in channel_names:
            table.fail("channels", f'no channel is named "{channel}"')
    if len(set(channels)) != len(channels):
        table.fail("channels", "names a channel more than once")
    return Route(
        name=read_name(table),
        countries=countries,
        prefixes=prefixes,
        operators=operators,
        channels=channels,
        sender=_read_sender_rule(table),
    )


def _read_sender_rule(route: ConfigTable) -> SenderRule:
    raw = route.raw.get("sender", {})
    if not isinstance(raw, dict):
        route.fail("sender", f'must be a table like {{ kind = "any" }}, got {show_value(raw)}')
    table = ConfigTable(raw, route.where, route.source, "sender.")
    table.refuse_unknown_keys(("kind", "replacement", "ton", "npi"))
    kind = table.choice("kind", SenderKind, SenderKind.ANY)
    replacement = table.text("replacement", "")
    if replacement:
        address = describe_sender(replacement)
        if address is None or not fits_sender_kind(kind, address):
            table.fail("replacement", f'"{replacement}" is not an allowed {kind} sender ID')
    return SenderRule(
        kind=kind,
        replacement=replacement,
        ton=table.code("ton", SMPP_TONS, None),
        npi=table.code("npi", SMPP_NPIS, None),
    )
