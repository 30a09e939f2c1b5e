"""The system Chromium that every browser test drives (Playwright downloads none here)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def find_chromium() -> str:
    """The system Chromium: TAMBULI_CHROMIUM, else `chromium` on PATH. A missing browser fails
    the test with what to do (never a skip: CI must not pass without its browser tests)."""
    chosen = os.environ.get("TAMBULI_CHROMIUM") or shutil.which("chromium")
    if not chosen or not Path(chosen).exists():
        pytest.fail(
            "Chromium is missing: the browser tests drive the system Chromium. Install it with "
            "`apt-get install -y chromium` (scripts/bootstrap --dev does this when run as root) "
            "or point TAMBULI_CHROMIUM at a Chromium binary.",
            pytrace=False,
        )
    return chosen


def chromium_arguments() -> list[str]:
    """Chromium's sandbox needs user namespaces that root in a container lacks."""
    return ["--no-sandbox"] if os.geteuid() == 0 else []
