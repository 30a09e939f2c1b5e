"""`tambuli prices`, `tambuli simulator` and `tambuli channels` commands."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from tambuli.billing.models import format_usd
from tambuli.channels.config.specs import ChannelSpec, HttpChannelConfig, SmppChannelConfig
from tambuli.channels.sms.simulator import Submission
from tambuli.cli.context import (
    clock,
    json_option,
    print_json,
    print_table,
    read_channel_config,
    read_settings,
    read_usd_option,
    run_with_database,
)
from tambuli.clock import format_utc_timestamp
from tambuli.db.engine import Database
from tambuli.messaging.channel_status import ReportedHealth, read_channel_health
from tambuli.messaging.pricing import PriceEntry, list_prices, remove_price, set_price
from tambuli.messaging.simulator_journal import read_simulator_inbox
from tambuli.settings import Settings

WHOLE_COUNTRY = "(all)"


def _price_json(entry: PriceEntry) -> dict[str, object]:
    return {
        "country": entry.country,
        "prefix": entry.prefix,
        "price": format_usd(entry.price_micro),
        "priceMicro": entry.price_micro,
        "source": "default" if entry.shipped else "operator",
        "updatedAt": entry.updated_at.isoformat() if entry.updated_at else None,
    }


def _price_row(entry: PriceEntry) -> tuple[str, str, str, int, str]:
    return (
        entry.country,
        entry.prefix or WHOLE_COUNTRY,
        format_usd(entry.price_micro),
        entry.price_micro,
        "shipped default" if entry.shipped else "set by operator",
    )


_PRICE_COLUMNS = ["country", "prefix", "USD per part", "micro-USD", "source"]


@click.group()
def prices() -> None:
    """The SMS price list (USD per part by country and number prefix)."""


@prices.command("list")
@json_option
def prices_list(as_json: bool) -> None:
    """Show the effective price list: operator prices and the shipped defaults they leave."""

    async def action(db: Database) -> list[PriceEntry]:
        return await list_prices(db)

    entries = run_with_database(action)
    if as_json:
        print_json([_price_json(e) for e in entries])
    else:
        print_table("Prices", _PRICE_COLUMNS, [_price_row(e) for e in entries])


@prices.command("set")
@click.option("--country", required=True, help="Two-letter country code, e.g. PH.")
@click.option("--prefix", default="", help="Number prefix with the country code, e.g. 63917.")
@click.option("--price", "price_usd", required=True, help="USD per part, e.g. 0.02.")
@json_option
def prices_set(country: str, prefix: str, price_usd: str, as_json: bool) -> None:
    """Set the price per part for a country, or for numbers starting with a prefix."""
    price_micro = read_usd_option(price_usd, "--price")

    async def action(db: Database) -> PriceEntry:
        return await set_price(db, clock, country, prefix, price_micro)

    entry = run_with_database(action)
    if as_json:
        print_json(_price_json(entry))
    else:
        print_table("Price set", _PRICE_COLUMNS, [_price_row(entry)])


@prices.command("remove")
@click.option("--country", required=True, help="Two-letter country code, e.g. PH.")
@click.option("--prefix", default="", help="Number prefix the price was set for.")
def prices_remove(country: str, prefix: str) -> None:
    """Remove an operator's price; a shipped default for the same key applies again."""

    async def action(db: Database) -> None:
        await remove_price(db, country, prefix)

    run_with_database(action)
    shown = prefix.strip().lstrip("+") or WHOLE_COUNTRY
    click.echo(f"price for {country.strip().upper()} {shown} removed", err=True)


@click.group()
def simulator() -> None:
    """The built-in simulated operator."""


def _submission_json(sub: Submission) -> dict[str, object]:
    return {
        "submittedAt": sub.submitted_at.isoformat(),
        "recipient": sub.recipient,
        "sender": sub.sender,
        "outcome": sub.outcome.value,
        "parts": sub.parts,
        "receipt": sub.receipt,
        "receiptDueAt": sub.receipt_due_at.isoformat() if sub.receipt_due_at else None,
        "reply": sub.reply,
        "body": sub.body,
        "messageId": sub.message_id,
        "operatorMessageId": sub.operator_message_id,
    }


def _utc_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _receipt_text(sub: Submission) -> str:
    if not sub.receipt:
        return "none"
    if sub.receipt_due_at is None:
        return f"{sub.receipt} (sent)"
    return f"{sub.receipt} (due {_utc_text(sub.receipt_due_at)})"


@simulator.command("inbox")
@click.option("--number", default=None, help="Only messages to this number (digits).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
def simulator_inbox(number: str | None, limit: int, as_json: bool) -> None:
    """Show what the simulated operator received, newest first."""
    recipient = None
    if number is not None:
        recipient = number.strip().removeprefix("+")
        if not (recipient.isascii() and recipient.isdigit()):
            raise click.ClickException(f"invalid --number: {number!r} is not a phone number")

    async def action(db: Database) -> list[Submission]:
        return await read_simulator_inbox(db, recipient, limit)

    found = run_with_database(action)
    if as_json:
        print_json([_submission_json(s) for s in found])
        return
    rows = [
        (
            _utc_text(s.submitted_at),
            s.recipient,
            s.sender,
            s.outcome.value,
            s.parts,
            _receipt_text(s),
            s.reply,
            s.body,
        )
        for s in found
    ]
    columns = [
        "time (UTC)",
        "recipient",
        "sender",
        "outcome",
        "parts",
        "receipt owed",
        "reply",
        "body",
    ]
    print_table("Simulator inbox", columns, rows)


def _number(value: float) -> float | int:
    return int(value) if value.is_integer() else value


def _seconds(value: float | None) -> float | int | None:
    return None if value is None else _number(value)


def _limit_text(parts_per_second: float) -> str:
    if parts_per_second <= 0:
        return "0 (no limit)"
    return f"{_number(parts_per_second)} parts/s"


@click.group()
def channels() -> None:
    """The channels this process delivers through."""


@channels.command("list")
@json_option
def channels_list(as_json: bool) -> None:
    """Show every configured channel: kind, address, limit, window, and each worker's state."""
    settings = read_settings()
    config = read_channel_config(settings)

    async def action(db: Database) -> list[ReportedHealth]:
        return await read_channel_health(db, clock.now())

    reported = run_with_database(action)
    views = [_describe_channel(spec, settings) for spec in config.channels]
    for view in views:
        view["workers"] = [_reported_json(r) for r in reported if r.health.name == view["name"]]
    if as_json:
        print_json(views)
        return
    rows = [
        (
            str(v["name"]),
            str(v["kind"]),
            str(v.get("address", "")),
            _limit_text(float(v["partsPerSecond"])),
            str(v.get("window", "")),
            "" if v.get("receiptDelaySeconds") is None else f"{v['receiptDelaySeconds']} s",
        )
        for v in views
    ]
    columns = ["name", "kind", "address", "parts per second", "window", "receipt delay"]
    print_table("Channels", columns, rows)
    live = [(v["name"], w) for v in views for w in v["workers"]]
    if not live:
        click.echo("No worker process reports these channels (none is running).")
        return
    live_rows = [
        (
            str(name),
            str(w["process"]),
            f"{w['state']} (stale)" if w["stale"] else str(w["state"]),
            str(w["inFlight"]),
            str(w["partsSent"]),
            str(w["partsRefused"]),
            str(w["lastError"]),
        )
        for name, w in live
    ]
    live_columns = ["channel", "process", "state", "in flight", "sent", "refused", "last error"]
    print_table("Channels in worker processes", live_columns, live_rows)


def _reported_json(reported: ReportedHealth) -> dict[str, Any]:
    health = reported.health
    return {
        "process": reported.process,
        "state": health.state.value,
        "stale": reported.stale,
        "updatedAt": format_utc_timestamp(reported.updated_at),
        "inFlight": health.in_flight,
        "partsSent": health.parts_sent,
        "partsRefused": health.parts_refused,
        "throttled": health.throttled,
        "reconnects": health.reconnects,
        "lastError": health.last_error,
    }


def _describe_channel(spec: ChannelSpec, settings: Settings) -> dict[str, Any]:
    view: dict[str, Any] = {
        "name": spec.name,
        "kind": spec.kind,
        "partsPerSecond": _number(spec.parts_per_second),
        "unlimited": spec.parts_per_second <= 0,
    }
    if isinstance(spec, SmppChannelConfig):
        view |= {
            "address": f"{spec.host}:{spec.port}",
            "systemId": spec.system_id,
            "bind": spec.bind.value,
            "window": spec.window,
            "concatenation": spec.concatenation.value,
        }
    elif isinstance(spec, HttpChannelConfig):
        view |= {"address": spec.url, "preset": spec.preset}
    else:
        view["receiptDelaySeconds"] = _seconds(settings.simulator_receipt_delay)
    return view


@click.group()
def routes() -> None:
    """The route table that picks a channel for each message."""


@routes.command("list")
@json_option
def routes_list(as_json: bool) -> None:
    """Show the routes in the order they are tried, with their failover channels."""
    config = read_channel_config(read_settings())
    views = [
        {
            "name": route.name,
            "countries": list(route.countries),
            "prefixes": list(route.prefixes),
            "operators": list(route.operators),
            "channels": list(route.channels),
            "sender": {
                "kind": route.sender.kind.value,
                "replacement": route.sender.replacement,
                "ton": route.sender.ton,
                "npi": route.sender.npi,
            },
        }
        for route in config.routes
    ]
    if as_json:
        print_json(views)
        return
    rows = [
        (
            route.name,
            " ".join((*route.countries, *route.prefixes, *route.operators)) or "(everything)",
            " → ".join(route.channels),
            route.sender.kind.value,
        )
        for route in config.routes
    ]
    print_table("Routes (first match wins)", ["name", "matches", "channels", "sender"], rows)
