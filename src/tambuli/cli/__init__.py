"""The `tambuli` command line: the composition root that wires settings, database and clock."""

from __future__ import annotations

from tambuli.cli.main import main

__all__ = ["main"]
