"""Shared plumbing of the CLI commands: settings, database, output."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from tambuli.billing.models import check_amount, parse_usd
from tambuli.channels.config.file import load_channel_config
from tambuli.channels.config.specs import ChannelConfig
from tambuli.channels.sms.http_presets import PRESET_DEFAULTS
from tambuli.clock import SystemClock
from tambuli.db.engine import Database
from tambuli.db.migrate import apply_migrations
from tambuli.errors import InvalidChannelConfig, InvalidField, TambuliError
from tambuli.messaging.models import check_sender_id
from tambuli.settings import Settings, load_settings

T = TypeVar("T")
clock = SystemClock()
# Where `tambuli serve` listens by default: the start of sign-in links without
# TAMBULI_PUBLIC_URL.
DEFAULT_CONSOLE_URL = "http://127.0.0.1:8000"


def read_settings() -> Settings:
    """Settings from the environment, with a clean message when they are wrong."""
    try:
        settings = load_settings()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if settings.server_sender_id:
        try:
            check_sender_id(settings.server_sender_id)
        except InvalidField as exc:
            raise click.ClickException(f"TAMBULI_DEFAULT_SENDER_ID: {exc.message}") from exc
    return settings


def read_channel_config(settings: Settings) -> ChannelConfig:
    """The channels and routes of TAMBULI_CONFIG, with a clean message when the file is wrong."""
    path = Path(settings.channel_config_file) if settings.channel_config_file else None
    try:
        return load_channel_config(
            path,
            os.environ,
            simulator_parts_per_second=settings.simulator_parts_per_second,
            http_presets=PRESET_DEFAULTS,
        )
    except InvalidChannelConfig as exc:
        raise click.ClickException(str(exc)) from exc


def read_usd_option(value: str, option: str, *, allow_zero: bool = False) -> int:
    """Micro-USD from a money option, read exactly as the API reads amounts (plain decimals)."""
    try:
        amount = parse_usd(value)
        check_amount(amount, allow_zero=allow_zero)
    except TambuliError as exc:
        raise click.ClickException(f"invalid {option}: {exc.message}") from exc
    return amount


def run_with_database(action: Callable[[Database], Awaitable[T]]) -> T:
    """Open the database, bring its schema up to date, run action, close it."""

    async def wrapper() -> T:
        db = Database(read_settings().database_url)
        try:
            await apply_migrations(db)
            return await action(db)
        finally:
            await db.dispose()

    return run(wrapper())


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it exists (measured faster for the server here), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine, turning Tambuli errors into a one-line message and exit code 1."""
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            return runner.run(coro)
    except TambuliError as exc:
        raise click.ClickException(exc.message) from exc


def print_json(value: Any) -> None:
    """One JSON document on one line on stdout."""
    sys.stdout.write(json.dumps(value, separators=(", ", ": ")) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A human-readable table on stdout."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console().print(table)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
