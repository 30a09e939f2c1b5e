"""Runtime settings, read once from TAMBULI_* environment variables and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///./tambuli.db"


@dataclass(frozen=True)
class Settings:
    """Every tunable of a Tambuli process; see docs/configuration.md."""

    database_url: str = DEFAULT_DATABASE_URL
    # Request bodies above this size are refused with 413 before they are parsed.
    max_body_bytes: int = 1_048_576
    # Contact imports are files, so they get a larger cap of their own.
    max_upload_bytes: int = 20 * 1_048_576
    # How long a verified API token is trusted without asking the database again.
    token_cache_seconds: float = 2.0
    # Balance given to the demo organization made on the first start of an empty database.
    demo_balance_micro: int = 10_000_000


def _read_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc


def _read_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment (or the given mapping)."""
    source = os.environ if env is None else env
    return Settings(
        database_url=source.get("TAMBULI_DATABASE_URL") or DEFAULT_DATABASE_URL,
        max_body_bytes=_read_int(source, "TAMBULI_MAX_BODY_BYTES", Settings.max_body_bytes),
        max_upload_bytes=_read_int(source, "TAMBULI_MAX_UPLOAD_BYTES", Settings.max_upload_bytes),
        token_cache_seconds=_read_float(
            source, "TAMBULI_TOKEN_CACHE_SECONDS", Settings.token_cache_seconds
        ),
        demo_balance_micro=_read_int(
            source, "TAMBULI_DEMO_BALANCE_MICRO", Settings.demo_balance_micro
        ),
    )
