"""Routes: matching by country, prefix and operator, first match wins, failover, sender rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tambuli.channels.config.routing import (
    SENDER_REFUSED_ERROR,
    Route,
    RouteChoice,
    RouteTable,
    SenderAddress,
    SenderKind,
    SenderRule,
    describe_sender,
    list_operator_names,
    resolve_sender,
)

# What phonenumbers 9 says about these Philippine numbers (checked in test_the_numbers_...).
GLOBE = "639171234567"
GLOBE_TOO = "639051234567"
SMART = "639181234567"
SMART_19 = "639191234567"
SMART_20 = "639201234567"
DITO = "639241234567"
US = "12025550123"
SINGAPORE = "6591234567"

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


def route(
    name: str,
    *channels: str,
    countries: tuple[str, ...] = (),
    prefixes: tuple[str, ...] = (),
    operators: tuple[str, ...] = (),
) -> Route:
    return Route(
        name=name,
        countries=countries,
        prefixes=prefixes,
        operators=operators,
        channels=channels or ("sim",),
    )


def names_of(table: RouteTable, *numbers: str) -> list[str | None]:
    found = [table.find_route(number) for number in numbers]
    return [None if one is None else one.name for one in found]


# --- matching ------------------------------------------------------------------------------
def test_the_numbers_used_here_belong_to_the_operators_phonenumbers_says() -> None:
    table = RouteTable(
        [
            route("globe", operators=("Globe",)),
            route("smart", operators=("Smart",)),
            route("dito", operators=("Dito",)),
        ]
    )
    assert names_of(table, GLOBE, GLOBE_TOO, SMART, SMART_19, SMART_20, DITO) == [
        "globe",
        "globe",
        "smart",
        "smart",
        "smart",
        "dito",
    ]


def test_a_country_route_matches_numbers_of_that_country_only() -> None:
    table = RouteTable([route("ph", countries=("PH",))])
    assert names_of(table, GLOBE, SMART, US, SINGAPORE) == ["ph", "ph", None, None]


def test_country_codes_match_in_any_case() -> None:
    table = RouteTable([route("ph", countries=("ph",))])
    assert names_of(table, GLOBE) == ["ph"]


def test_a_prefix_route_matches_numbers_starting_with_one_of_its_prefixes() -> None:
    table = RouteTable([route("globe", prefixes=("63917", "63905"))])
    assert names_of(table, GLOBE, GLOBE_TOO, SMART) == ["globe", "globe", None]


def test_operator_names_match_whatever_their_case() -> None:
    table = RouteTable([route("smart", operators=("SMART",)), route("globe", operators=("globe",))])
    assert names_of(table, SMART, GLOBE) == ["smart", "globe"]


def test_several_kinds_of_criteria_must_all_match() -> None:
    table = RouteTable(
        [route("ph-smart-18", countries=("PH",), prefixes=("63918",), operators=("Smart",))]
    )
    assert names_of(table, SMART, SMART_19, GLOBE, US) == ["ph-smart-18", None, None, None]


def test_any_value_within_one_kind_of_criterion_matches() -> None:
    table = RouteTable([route("two", countries=("SG", "PH"), operators=("Globe", "Smart"))])
    assert names_of(table, GLOBE, SMART, DITO, US) == ["two", "two", None, None]


def test_a_leading_plus_on_the_recipient_is_ignored() -> None:
    table = RouteTable([route("globe", prefixes=("63917",), operators=("Globe",))])
    assert names_of(table, "+" + GLOBE) == ["globe"]


def test_a_number_phonenumbers_cannot_place_matches_only_routes_without_country_or_operator() -> (
    None
):
    table = RouteTable(
        [route("ph", countries=("PH",)), route("globe", operators=("Globe",)), route("rest")]
    )
    assert names_of(table, "0", "", "63917") == ["rest", "rest", "ph"]


def test_a_number_in_no_known_range_matches_its_calling_codes_country_but_no_operator() -> None:
    table = RouteTable(
        [
            route("globe", operators=("Globe",)),
            route("ph", countries=("PH",)),
            route("us", countries=("US",)),
        ]
    )
    assert names_of(table, "631234567890", "12345678901") == ["ph", "us"]


def test_a_recipient_no_route_matches_has_no_route_and_no_channel() -> None:
    table = RouteTable([route("ph", countries=("PH",))])
    assert table.find_route(US) is None
    assert table.choose_channel(US, lambda name: True) is None


@PROPERTY_SETTINGS
@given(number=st.text(alphabet="0123456789+", max_size=20))
def test_a_route_without_criteria_matches_every_recipient(number: str) -> None:
    assert names_of(RouteTable([route("all")]), number) == ["all"]


CRITERIA = st.fixed_dictionaries(
    {},
    optional={
        "countries": st.lists(st.sampled_from(["PH", "US", "SG"]), max_size=2).map(tuple),
        "prefixes": st.lists(st.sampled_from(["63", "639", "63917", "1", "65"]), max_size=2).map(
            tuple
        ),
        "operators": st.lists(st.sampled_from(["Globe", "Smart", "Dito"]), max_size=2).map(tuple),
    },
)


@PROPERTY_SETTINGS
@given(
    criteria=st.lists(CRITERIA, min_size=1, max_size=6),
    number=st.sampled_from([GLOBE, GLOBE_TOO, SMART, SMART_20, DITO, US, SINGAPORE]),
)
def test_the_first_matching_route_in_file_order_wins(
    criteria: list[dict[str, tuple[str, ...]]], number: str
) -> None:
    routes = [route(f"r{place}", **given) for place, given in enumerate(criteria)]
    matching = [one.name for one in routes if RouteTable([one]).find_route(number) is not None]
    assert names_of(RouteTable(routes), number) == [matching[0] if matching else None]


def test_a_route_must_name_a_channel() -> None:
    with pytest.raises(ValueError, match="names no channel"):
        Route(name="empty", channels=())


# --- failover ------------------------------------------------------------------------------
FAILOVER = RouteTable([route("ph", "smpp", "http", "sim", countries=("PH",))])


def test_the_first_channel_is_chosen_when_it_is_available() -> None:
    choice = FAILOVER.choose_channel(GLOBE, lambda name: True)
    assert choice == RouteChoice(FAILOVER.routes[0], "smpp", available=True)


def test_unavailable_channels_are_skipped_in_failover_order() -> None:
    down = {"smpp"}
    choice = FAILOVER.choose_channel(GLOBE, lambda name: name not in down)
    assert choice is not None
    assert (choice.channel, choice.available) == ("http", True)
    down.add("http")
    choice = FAILOVER.choose_channel(GLOBE, lambda name: name not in down)
    assert choice is not None
    assert (choice.channel, choice.available) == ("sim", True)


def test_with_no_channel_available_the_first_is_chosen_and_flagged() -> None:
    choice = FAILOVER.choose_channel(GLOBE, lambda name: False)
    assert choice == RouteChoice(FAILOVER.routes[0], "smpp", available=False)


def test_availability_is_asked_in_order_and_only_until_one_is_available() -> None:
    asked: list[str] = []

    def is_available(name: str) -> bool:
        asked.append(name)
        return name == "http"

    FAILOVER.choose_channel(GLOBE, is_available)
    assert asked == ["smpp", "http"]


# --- sender IDs ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("TAMBULI", SenderAddress("TAMBULI", 5, 0)),
        ("Info 2U", SenderAddress("Info 2U", 5, 0)),
        ("ABCDEFGHIJK", SenderAddress("ABCDEFGHIJK", 5, 0)),
        ("+639171234567", SenderAddress("639171234567", 1, 1)),
        ("639171234567", SenderAddress("639171234567", 1, 1)),
        ("09171234567", SenderAddress("09171234567", 2, 1)),
        ("2910", SenderAddress("2910", 3, 0)),
        ("12345678", SenderAddress("12345678", 3, 0)),
        ("+2910", SenderAddress("2910", 1, 1)),
    ],
)
def test_a_sender_gets_the_ton_and_npi_of_its_form(sender: str, expected: SenderAddress) -> None:
    assert describe_sender(sender) == expected


@pytest.mark.parametrize(
    "sender", ["", "ABCDEFGHIJKL", "Tambulí", "1234567890123456", "+", "tab\there"]
)
def test_a_malformed_sender_has_no_address(sender: str) -> None:
    assert describe_sender(sender) is None


def test_any_rule_lets_well_formed_senders_through_unchanged() -> None:
    rule = SenderRule()
    assert resolve_sender(rule, "TAMBULI") == SenderAddress("TAMBULI", 5, 0)
    assert resolve_sender(rule, "+639171234567") == SenderAddress("639171234567", 1, 1)


def test_an_alphanumeric_rule_refuses_a_numeric_sender_without_a_replacement() -> None:
    rule = SenderRule(kind=SenderKind.ALPHANUMERIC)
    assert resolve_sender(rule, "TAMBULI") == SenderAddress("TAMBULI", 5, 0)
    assert resolve_sender(rule, "2910") is None
    assert SENDER_REFUSED_ERROR == "sender ID not allowed on this route"


def test_an_alphanumeric_rule_sends_its_replacement_instead_of_a_numeric_sender() -> None:
    rule = SenderRule(kind=SenderKind.ALPHANUMERIC, replacement="TAMBULI")
    assert resolve_sender(rule, "+639171234567") == SenderAddress("TAMBULI", 5, 0)


def test_a_numeric_rule_refuses_or_replaces_an_alphanumeric_sender() -> None:
    assert resolve_sender(SenderRule(kind=SenderKind.NUMERIC), "TAMBULI") is None
    rule = SenderRule(kind=SenderKind.NUMERIC, replacement="2910")
    assert resolve_sender(rule, "TAMBULI") == SenderAddress("2910", 3, 0)
    assert resolve_sender(rule, "+639171234567") == SenderAddress("639171234567", 1, 1)


def test_an_alphanumeric_sender_over_eleven_characters_is_refused_or_replaced() -> None:
    assert resolve_sender(SenderRule(), "TAMBULI-INFO") is None
    rule = SenderRule(replacement="TAMBULI")
    assert resolve_sender(rule, "TAMBULI-INFO") == SenderAddress("TAMBULI", 5, 0)


def test_a_rules_ton_and_npi_replace_the_derived_ones() -> None:
    rule = SenderRule(kind=SenderKind.NUMERIC, ton=0, npi=1)
    assert resolve_sender(rule, "2910") == SenderAddress("2910", 0, 1)
    assert resolve_sender(SenderRule(npi=9), "TAMBULI") == SenderAddress("TAMBULI", 5, 9)


def test_phonenumbers_knows_the_three_philippine_operators() -> None:
    assert list_operator_names(["PH"]) == {"Globe", "Smart", "Dito"}
    assert {"Globe", "SingTel"} <= list_operator_names()
