"""One table of the channel config file being read: typed values, every error naming its place."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn, TypeVar, overload

from tambuli.channels.secrets import Secret
from tambuli.errors import InvalidChannelConfig

MAX_PARTS_PER_SECOND = 100_000.0

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_Choice = TypeVar("_Choice", bound=StrEnum)


def read_name(table: ConfigTable) -> str:
    """The name of a channel or route: 1 to 64 letters, digits, '.', '_' or '-'."""
    name = table.text("name")
    if not _NAME.fullmatch(name):
        table.fail("name", "must be 1 to 64 letters, digits, '.', '_' or '-', starting with one")
    return name


def show_value(value: object) -> str:
    """A TOML value as an error message shows it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


class ConfigTable:
    """One TOML table being read; every error names the file, the table and the field."""

    def __init__(self, raw: Mapping[str, Any], where: str, source: Path, prefix: str = "") -> None:
        self.raw = raw
        self.where = where
        self.source = source
        # Keys of a nested table are named through their parent ("sender.kind").
        self.prefix = prefix

    def fail(self, key: str, problem: str) -> NoReturn:
        """Raise InvalidChannelConfig about one field of this table."""
        field = self.prefix + key
        raise InvalidChannelConfig(
            f'{self.source}: {self.where}, field "{field}": {problem}',
            {"file": str(self.source), "table": self.where, "field": field},
        )

    def refuse_unknown_keys(self, allowed: Iterable[str]) -> None:
        """Fail on the first key that is not allowed, so a typo cannot pass silently."""
        allowed = sorted(allowed)
        for key in self.raw:
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                self.fail(
                    key, f'unknown key (did you mean "{hint[0]}"?)' if hint else "unknown key"
                )

    def tables(self, key: str) -> list[ConfigTable]:
        """The [[key]] tables, at least one, each named by its name (or its place, from 1)."""
        raw = self.raw.get(key)
        if raw is None:
            self.fail(key, f"is required: add at least one [[{key}]] table")
        if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
            self.fail(key, f"must be [[{key}]] tables, got {show_value(raw)}")
        found = []
        for place, table in enumerate(raw, start=1):
            name = table.get("name")
            named = isinstance(name, str) and name != ""
            found.append(
                ConfigTable(table, f'{key} "{name}"' if named else f"{key}[{place}]", self.source)
            )
        return found

    def text(self, key: str, default: str | None = None, *, max_length: int = 1000) -> str:
        """A string; without a default it is required and must not be empty."""
        value = self.raw.get(key, default)
        if value is None:
            self.fail(key, "is required")
        if not isinstance(value, str):
            self.fail(key, f"must be a string, got {show_value(value)}")
        if default is None and not value:
            self.fail(key, "must not be empty")
        if len(value) > max_length:
            self.fail(key, f"must be at most {max_length} characters")
        return value

    def whole(self, key: str, low: int, high: int, default: int | None = None) -> int:
        """An integer from low to high; required without a default."""
        value = self.raw.get(key, default)
        if value is None:
            self.fail(key, "is required")
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(key, f"must be a whole number from {low} to {high}, got {show_value(value)}")
        return value

    def number(
        self,
        key: str,
        default: float | None = None,
        *,
        at_most: float = MAX_PARTS_PER_SECOND,
        zero_ok: bool = False,
    ) -> float:
        """A positive number (int or float) up to at_most; required without a default."""
        value = self.raw.get(key, default)
        if value is None:
            self.fail(key, "is required")
        low = "from 0" if zero_ok else "above 0"
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not (value >= 0 if zero_ok else value > 0)
            or value > at_most
        ):
            self.fail(
                key, f"must be a number {low} and at most {at_most:g}, got {show_value(value)}"
            )
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        """A TOML boolean (true or false, not a string or a number)."""
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {show_value(value)}")
        return value

    @overload
    def code(self, key: str, allowed: frozenset[int], default: int) -> int: ...

    @overload
    def code(self, key: str, allowed: frozenset[int], default: None) -> int | None: ...

    def code(self, key: str, allowed: frozenset[int], default: int | None) -> int | None:
        """One of a set of SMPP codes (TON or NPI); the default when absent."""
        value = self.raw.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or value not in allowed:
            shown = ", ".join(str(code) for code in sorted(allowed))
            self.fail(key, f"must be one of {shown}, got {show_value(value)}")
        return int(value)

    def choice(self, key: str, choices: type[_Choice], default: _Choice) -> _Choice:
        """One of an enum's values, given as a string."""
        value = self.raw.get(key, default.value)
        allowed = [member.value for member in choices]
        if not isinstance(value, str) or value not in allowed:
            shown = ", ".join(f'"{choice}"' for choice in allowed)
            self.fail(key, f"must be one of {shown}, got {show_value(value)}")
        return choices(value)

    def list_of(self, key: str, item: type[Any], items: str) -> tuple[Any, ...]:
        """An array whose items are all of one type; empty when absent."""
        value = self.raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(one, item) for one in value):
            self.fail(key, f"must be an array of {items}, got {show_value(value)}")
        return tuple(value)

    def optional_secret(self, key: str, environ: Mapping[str, str]) -> Secret | None:
        """A secret as in `secret`, or None when none of its keys is given."""
        if not any(name in self.raw for name in (key, f"{key}_env", f"{key}_file")):
            return None
        return self.secret(key, environ)

    def secret(self, key: str, environ: Mapping[str, str], *, max_length: int = 1000) -> Secret:
        """A secret given as key_env (a variable), key_file (a file) or, discouraged, key."""
        given = [name for name in (key, f"{key}_env", f"{key}_file") if name in self.raw]
        if len(given) > 1:
            self.fail(given[1], f'give only one of "{key}_env", "{key}_file" and "{key}"')
        if not given:
            self.fail(key, f'is required: set "{key}_env", "{key}_file" or "{key}"')
        [chosen] = given
        raw = self.raw[chosen]
        if not isinstance(raw, str):
            # The value itself is never shown: it may be the secret.
            self.fail(chosen, "must be a string")
        value = raw if chosen == key else self.fetch_secret(chosen, raw, environ)
        if len(value) > max_length:
            self.fail(chosen, f"the secret must be at most {max_length} characters")
        return Secret(value)

    def fetch_secret(self, key: str, reference: str, environ: Mapping[str, str]) -> str:
        """The secret a key_env variable or key_file file holds."""
        if key.endswith("_env"):
            if reference not in environ:
                self.fail(key, f"environment variable {reference} is not set")
            if not environ[reference]:
                self.fail(key, f"environment variable {reference} is empty")
            return environ[reference]
        # A relative path is read from the config file's folder, wherever the process started.
        path = self.source.parent / reference
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            self.fail(key, f"cannot read {path}: {exc.strerror or exc}")
        except UnicodeDecodeError:
            self.fail(key, f"{path} is not UTF-8 text")
        if not value:
            self.fail(key, f"{path} is empty")
        return value
