"""SMS poll questions: their choices and matching a contact's free-text reply to one."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tambuli.errors import InvalidField

MAX_CHOICES = 50
CHOICE_KEYS = frozenset({"value", "words"})
# Positions are at most two digits (50 choices); a few leading zeros ("01", "002") are still
# read as numbers, but a long digit string is not, so int() never sees thousands of digits.
MAX_POSITION_DIGITS = 4


@dataclass(frozen=True)
class Choice:
    """One accepted answer: `value` is stored; it, any of `words` or its position matches."""

    value: str
    words: tuple[str, ...]


def parse_choices(raw: object, field: str) -> tuple[Choice, ...]:
    """Validate a JSON list of choices (strings or {"value", "words"}); None is an open question."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidField(f"{field} must be a list of choices", {"field": field})
    if len(raw) > MAX_CHOICES:
        raise InvalidField(f"{field} may hold at most {MAX_CHOICES} choices", {"field": field})
    choices = tuple(
        _parse_choice(item, f"{field}[{index}]", field) for index, item in enumerate(raw)
    )
    _check_names(choices, field)
    return choices


def normalise_reply(text: str) -> str:
    """Fold a reply for matching: NFKC, casefold, no whitespace, no punctuation at either end."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    # Format characters (zero-width spaces, joiners, BOMs) are invisible and phones add them.
    kept = "".join(
        char for char in folded if not char.isspace() and unicodedata.category(char) != "Cf"
    )
    # Removing spaces can bring together characters that compose ("ᄀ ᅡ"), so normalise again.
    kept = unicodedata.normalize("NFKC", kept)
    start, end = 0, len(kept)
    while start < end and _is_punctuation(kept[start]):
        start += 1
    while end > start and _is_punctuation(kept[end - 1]):
        end -= 1
    return kept[start:end]


def match_reply(reply: str, choices: Sequence[Choice]) -> str | None:
    """Return the value of the choice a reply names, or None.

    A reply names a choice by its value, one of its words, or its 1-based position ("2"),
    all compared after `normalise_reply`; leading zeros are allowed ("02" is 2, "0" is
    nothing). A value or word wins over a position (parse_choices makes them disjoint). With
    no choices (an open question) any reply that is not blank after normalising is the
    answer, returned with its surrounding whitespace stripped.
    """
    key = normalise_reply(reply)
    if not key:
        return None
    if not choices:
        return reply.strip()
    for choice in choices:
        if key in _names_of(choice):
            return choice.value
    position = _read_position(key)
    if position is not None and 1 <= position <= len(choices):
        return choices[position - 1].value
    return None


def _parse_choice(item: object, where: str, field: str) -> Choice:
    if isinstance(item, str):
        return Choice(_parse_text(item, where, field), ())
    if not isinstance(item, Mapping):
        raise InvalidField(f'{where} must be a string or {{"value", "words"}}', {"field": field})
    unknown = sorted(str(key) for key in item if key not in CHOICE_KEYS)
    if unknown:
        raise InvalidField(f"Unknown field {unknown[0]!r} in {where}", {"field": field})
    value = _parse_text(item.get("value"), f"{where}.value", field)
    words = item.get("words")
    if words is None:
        return Choice(value, ())
    if not isinstance(words, list):
        raise InvalidField(f"{where}.words must be a list of strings", {"field": field})
    parsed = tuple(
        _parse_text(word, f"{where}.words[{index}]", field) for index, word in enumerate(words)
    )
    for index, word in enumerate(parsed):
        # Numbers belong to positions: "2" as a word of choice 1 would contradict choice 2.
        if normalise_reply(word).isdecimal():
            raise InvalidField(
                f"{where}.words[{index}] {word!r} is a number; numbers select choices by position",
                {"field": field},
            )
    return Choice(value, parsed)


def _parse_text(text: object, where: str, field: str) -> str:
    if not isinstance(text, str):
        raise InvalidField(f"{where} must be a string", {"field": field})
    if not normalise_reply(text):
        raise InvalidField(
            f"{where} must hold a letter or digit, not only spaces or punctuation", {"field": field}
        )
    return text.strip()


def _check_names(choices: tuple[Choice, ...], field: str) -> None:
    """Refuse a name two choices share, or a numeric value that is another choice's position."""
    seen: dict[str, int] = {}
    for index, choice in enumerate(choices):
        for text in (choice.value, *choice.words):
            key = normalise_reply(text)
            if key in seen:
                where = "twice in" if seen[key] == index else f"in {field}[{seen[key]}] and"
                raise InvalidField(
                    f"{text!r} appears {where} {field}[{index}] (ignoring case, spaces and"
                    " punctuation); a reply must name one choice",
                    {"field": field},
                )
            seen[key] = index
        position = _read_position(normalise_reply(choice.value))
        if position is not None and 1 <= position <= len(choices) and position != index + 1:
            raise InvalidField(
                f"{field}[{index}] {choice.value!r} is also the position of choice {position};"
                " a numeric value must be its own position or beyond the last",
                {"field": field},
            )


def _names_of(choice: Choice) -> set[str]:
    return {normalise_reply(text) for text in (choice.value, *choice.words)}


def _read_position(key: str) -> int | None:
    # isdecimal() also takes other scripts' digits, which int() reads too ("٢" is 2).
    if not key.isdecimal() or len(key) > MAX_POSITION_DIGITS:
        return None
    return int(key)


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P")
