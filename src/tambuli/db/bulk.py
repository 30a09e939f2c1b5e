"""Parameters for one statement run over many rows (executemany)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def bind_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows keyed for `bindparam("b_<name>")`.

    SQLAlchemy reserves column names for its own parameters in UPDATE … SET, so many-row updates
    name theirs with a "b_" prefix.
    """
    return [{f"b_{key}": value for key, value in row.items()} for row in rows]
