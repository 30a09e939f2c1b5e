"""Tambuli's own published OpenAPI document, built without a server (it needs no database)."""

from __future__ import annotations

from functools import cache
from typing import Any

from tambuli.api.app import build_app
from tambuli.api.openapi import document_of
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.services import build_services
from tambuli.settings import load_settings


@cache
def published_document() -> dict[str, Any]:
    """The document /openapi.json serves (tests compare the served one with it)."""
    # The engine connects lazily: building the application never opens this database.
    app = build_app(
        build_services(Database("sqlite+aiosqlite:///:memory:"), FakeClock(), load_settings({}))
    )
    return document_of(app)
