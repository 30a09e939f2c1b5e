"""Substring search that both databases run the same way."""

from __future__ import annotations


def escape_like(text: str) -> str:
    """Text for a LIKE pattern with `escape="\\"`: its own % and _ match only themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
