"""Poll questions: parsing choices, normalising replies and matching a reply to a choice."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tambuli.campaigns.polls import Choice, match_reply, normalise_reply, parse_choices
from tambuli.errors import InvalidField

YES_NO = parse_choices(["Yes", "No"], "choices")
TAGALOG = parse_choices(
    [
        {"value": "Yes", "words": ["y", "oo", "opo", "Yes po"]},
        {"value": "No", "words": ["n", "hindi", "hindi po"]},
        "Maybe later",
    ],
    "choices",
)


# --- Normalising ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes", "yes"),
        ("  yes  please ", "yesplease"),
        ("YES\tPLEASE\n", "yesplease"),
        ("Yes!", "yes"),
        ("1.", "1"),
        ("(2)", "2"),
        ("'oo'", "oo"),
        ("«Opo»", "opo"),
        ("¡Sí!", "sí"),
        ("Yes, please", "yes,please"),
        ("ＹＥＳ", "yes"),  # full-width letters, as some phone keyboards send
        ("１", "1"),
        ("Y\u200bes", "yes"),  # zero-width space
        ("\ufeffOK", "ok"),  # byte-order mark
        ("N\u0303O", "ño"),  # N + combining tilde composes to Ñ
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),
        ("ᄀ ᅡ", "가"),  # Hangul jamo compose once the space is gone
        ("👍", "👍"),
        ("+", "+"),  # a symbol, not punctuation
        ("  ", ""),
        ("?!.", ""),
        ("", ""),
    ],
)
def test_normalise_reply(text: str, expected: str) -> None:
    assert normalise_reply(text) == expected


# --- Matching ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Yes", "Yes"),
        ("yes", "Yes"),
        ("  YES  ", "Yes"),
        ("Yes!", "Yes"),
        ("yes.", "Yes"),
        ("no", "No"),
        ("NO!!!", "No"),
        ("1", "Yes"),
        ("2", "No"),
        ("1.", "Yes"),
        ("(2)", "No"),
        ("2)", "No"),
        (" 1 ", "Yes"),
        ("01", "Yes"),
        ("002", "No"),
        ("１", "Yes"),
        ("٢", "No"),  # Arabic-Indic two
        ("0", None),
        ("3", None),
        ("12", None),
        ("99999999999999999999", None),
        ("9" * 5000, None),
        ("maybe", None),
        ("yes no", None),
        ("1 2", None),
        ("", None),
        ("   ", None),
        ("?", None),
    ],
)
def test_match_a_yes_no_question(reply: str, expected: str | None) -> None:
    assert match_reply(reply, YES_NO) == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Oo", "Yes"),
        ("oo!", "Yes"),
        ("OPO", "Yes"),
        ("Opo.", "Yes"),
        ("Y", "Yes"),
        ("yes po", "Yes"),
        ("YESPO", "Yes"),
        ("Hindi", "No"),
        ("hindi  po", "No"),
        ("N", "No"),
        ("maybe later", "Maybe later"),
        ("Maybe later.", "Maybe later"),
        ("MAYBELATER", "Maybe later"),
        ("3", "Maybe later"),
        ("4", None),
        ("o", None),
        ("hindi ko alam", None),
    ],
)
def test_match_words_in_another_language(reply: str, expected: str | None) -> None:
    assert match_reply(reply, TAGALOG) == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Sí", "Sí"),
        ("SÍ", "Sí"),
        ("si", None),  # accents count: "si" is not "sí"
        ("ÑO", "Ño"),
        ("ño", "Ño"),
        ("N\u0303o", "Ño"),
        ("NO", "No"),
        ("Ｎｏ", "No"),
        ("ÑOÑO", "Ñoño"),
        ("Straße", "Strasse"),
    ],
)
def test_match_non_ascii_replies(reply: str, expected: str | None) -> None:
    choices = parse_choices(["Sí", "No", "Ño", "Ñoño", "Strasse"], "choices")
    assert match_reply(reply, choices) == expected


def test_numeric_values_that_are_their_own_positions_match_both_ways() -> None:
    scale = parse_choices(["1", "2", "3", "4", "5"], "choices")
    assert [match_reply(str(n), scale) for n in range(7)] == [None, "1", "2", "3", "4", "5", None]


def test_numeric_values_beyond_the_last_position_match_by_value_first() -> None:
    choices = parse_choices(["10", "20", "30"], "choices")
    assert match_reply("1", choices) == "10"
    assert match_reply("20", choices) == "20"
    assert match_reply("3", choices) == "30"
    assert match_reply("4", choices) is None
    zero = parse_choices(["0", "5"], "choices")
    assert [match_reply(text, zero) for text in ("0", "1", "2", "5")] == ["0", "0", "5", "5"]


def test_a_name_wins_over_a_position_in_hand_built_choices() -> None:
    clashing = (Choice("Yes", ("2",)), Choice("No", ()))
    assert match_reply("2", clashing) == "Yes"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Maybe later", "Maybe later"),
        ("  Next week, probably!  ", "Next week, probably!"),
        ("1", "1"),
        ("Oo", "Oo"),
        ("?", None),
        ("...", None),
        ("", None),
        (" \t\n", None),
        ("\u200b", None),
    ],
)
def test_an_open_question_takes_any_reply_that_is_not_blank(
    reply: str, expected: str | None
) -> None:
    assert match_reply(reply, ()) == expected
    assert match_reply(reply, parse_choices(None, "choices")) == expected


# --- Parsing ----------------------------------------------------------------------------------


def test_choices_are_strings_or_objects_with_words() -> None:
    raw: list[object] = [
        " Yes ",
        {"value": "No", "words": [" n ", "hindi"]},
        {"value": "Maybe", "words": None},
        {"value": "Later"},
    ]
    assert parse_choices(raw, "choices") == (
        Choice("Yes", ()),
        Choice("No", ("n", "hindi")),
        Choice("Maybe", ()),
        Choice("Later", ()),
    )


def test_no_choices_is_an_open_question() -> None:
    assert parse_choices(None, "choices") == ()
    assert parse_choices([], "choices") == ()


def test_fifty_choices_are_allowed() -> None:
    choices = parse_choices([f"Option {n}" for n in range(50)], "choices")
    assert len(choices) == 50
    assert match_reply("50", choices) == "Option 49"
    assert match_reply("Option 7", choices) == "Option 7"


@pytest.mark.parametrize(
    "raw",
    [
        "Yes",
        {"value": "Yes"},
        42,
        [42],
        [True],
        [None],
        [["Yes"]],
        [""],
        ["   "],
        ["!?"],
        ["Yes", "yes"],
        ["Yes", "YES!"],
        ["Yes please", "yesplease"],
        ["Ｙｅｓ", "Yes"],
        [{"value": "Yes", "words": ["y"]}, {"value": "No", "words": ["Y"]}],
        [{"value": "Yes", "words": ["yes"]}],
        [{"value": "Yes", "words": ["y", "Y."]}],
        [{"value": "Yes"}, {"value": "No", "words": ["yes"]}],
        [{"value": "Yes", "extra": 1}],
        [{"value": "Yes", "Words": ["y"]}],
        [{"words": ["y"]}],
        [{"value": None}],
        [{"value": 1}],
        [{"value": "Yes", "words": "y"}],
        [{"value": "Yes", "words": [1]}],
        [{"value": "Yes", "words": [""]}],
        [{"value": "Yes", "words": ["1"]}],
        [{"value": "Yes", "words": ["07"]}],
        [{"value": "Yes", "words": ["9"]}],
        [{"value": "Yes", "words": ["(2)"]}],
        [{"value": "Yes", "words": ["３"]}],
        ["2", "1"],
        ["Yes", "1"],
        ["Yes", "No", "02"],
        [f"Option {n}" for n in range(51)],
    ],
)
def test_invalid_choices_are_refused_naming_the_field(raw: object) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_choices(raw, "steps[2].choices")
    assert caught.value.context == {"field": "steps[2].choices"}
    assert caught.value.message


def test_a_duplicate_is_named_in_the_message() -> None:
    with pytest.raises(InvalidField, match=r"'No!'.*choices\[0\] and choices\[1\]"):
        parse_choices(["No", "No!"], "choices")


# --- Properties -------------------------------------------------------------------------------


def is_case_stable(char: str) -> bool:
    """Whether changing the case of a letter on its own leaves its normalised form alone."""
    folded = normalise_reply(char)
    return bool(folded) and all(
        normalise_reply(variant) == folded for variant in (char.upper(), char.lower())
    )


letters = st.characters(categories=["Lu", "Ll", "Lo"]).filter(is_case_stable)
values = st.lists(st.one_of(letters, st.sampled_from("ñÑáéÍóúoO")), min_size=1, max_size=12).map(
    "".join
)
spaces = st.sampled_from(["", "", " ", "  ", "\t", "\u3000", "\xa0", "\u200b"])
surrounding = st.sampled_from(["", ".", "!", "?", ",", ")", "(", "...", "!!", "'", '"'])


@st.composite
def variants(draw: st.DrawFn, value: str) -> str:
    """The value with each letter's case changed at will, spaces anywhere, punctuation around."""
    parts = []
    for char in value:
        changed = draw(st.sampled_from([char, char.upper(), char.lower()]))
        parts.append(changed + draw(spaces))
    return draw(spaces) + draw(surrounding) + "".join(parts) + draw(surrounding) + draw(spaces)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), value=values, other=st.sampled_from(["Other", "Iba pa", "Wala"]))
def test_any_casing_spacing_or_punctuation_variant_of_a_value_matches_it(
    data: st.DataObject, value: str, other: str
) -> None:
    listed = [value] if normalise_reply(value) == normalise_reply(other) else [other, value]
    choices = parse_choices(listed, "choices")
    variant = data.draw(variants(value))
    assert match_reply(variant, choices) == value
    assert match_reply(unicodedata.normalize("NFD", variant), choices) == value


@settings(max_examples=200, deadline=None)
@given(reply=st.text(max_size=30), count=st.integers(0, 5))
def test_a_reply_matches_at_most_a_listed_value_and_normalising_is_idempotent(
    reply: str, count: int
) -> None:
    choices = parse_choices([f"Choice {letter}" for letter in "ABCDE"[:count]], "choices")
    result = match_reply(reply, choices)
    assert normalise_reply(normalise_reply(reply)) == normalise_reply(reply)
    if not choices:
        assert result == (reply.strip() if normalise_reply(reply) else None)
    else:
        assert result is None or result in {choice.value for choice in choices}
