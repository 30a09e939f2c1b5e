"""`tambuli senders` (sender IDs registered to one organization) and `tambuli inbound`."""

from __future__ import annotations

import click

from tambuli.cli.context import clock, json_option, print_json, print_table, run_with_database
from tambuli.clock import format_utc_timestamp
from tambuli.db.engine import Database
from tambuli.messaging import inbound as inbound_sms
from tambuli.messaging import senders as registry
from tambuli.messaging.views import RegisteredSender, UnmatchedInbound


def _sender_json(entry: RegisteredSender) -> dict[str, object]:
    return {
        "sender": entry.sender,
        "orgId": entry.org_id,
        "createdAt": format_utc_timestamp(entry.created_at),
    }


def _sender_row(entry: RegisteredSender) -> tuple[str, int, str]:
    return entry.sender, entry.org_id, format_utc_timestamp(entry.created_at)


_SENDER_COLUMNS = ["sender", "organization", "registered at (UTC)"]


@click.group()
def senders() -> None:
    """Sender IDs registered to one organization: only it sends from them and gets their replies."""


@senders.command("add")
@click.option("--org", "org_id", required=True, type=int, help="The owning organization.")
@click.option("--sender", required=True, help="Alphanumeric sender ID, short code or long number.")
@json_option
def senders_add(org_id: int, sender: str, as_json: bool) -> None:
    """Register a sender ID to an organization (again for the same one changes nothing)."""

    async def action(db: Database) -> RegisteredSender:
        return await registry.register_sender(db, clock, org_id, sender)

    entry = run_with_database(action)
    if as_json:
        print_json(_sender_json(entry))
    else:
        print_table("Sender registered", _SENDER_COLUMNS, [_sender_row(entry)])


@senders.command("list")
@click.option("--org", "org_id", type=int, default=None, help="Only this organization's.")
@json_option
def senders_list(org_id: int | None, as_json: bool) -> None:
    """Show the registered sender IDs and their organizations."""

    async def action(db: Database) -> list[RegisteredSender]:
        return await registry.list_senders(db, org_id)

    entries = run_with_database(action)
    if as_json:
        print_json([_sender_json(e) for e in entries])
    else:
        print_table("Registered senders", _SENDER_COLUMNS, [_sender_row(e) for e in entries])


@senders.command("remove")
@click.option("--sender", required=True, help="The registered sender ID.")
def senders_remove(sender: str) -> None:
    """Forget a registration: the sender ID is shared by every organization again."""

    async def action(db: Database) -> None:
        await registry.remove_sender(db, sender)

    run_with_database(action)
    click.echo(f"sender {sender.strip()} removed", err=True)


def _unmatched_json(item: UnmatchedInbound) -> dict[str, object]:
    return {
        "id": item.id,
        "receivedAt": format_utc_timestamp(item.received_at),
        "channel": item.channel,
        "from": item.sender,
        "to": item.recipient,
        "body": item.body,
        "candidateOrgIds": list(item.candidates),
    }


@click.group()
def inbound() -> None:
    """Inbound SMS as the operator sees them."""


@inbound.command("unmatched")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@json_option
def inbound_unmatched(limit: int, as_json: bool) -> None:
    """Show the inbound SMS no single organization could be given, newest first."""

    async def action(db: Database) -> list[UnmatchedInbound]:
        return await inbound_sms.list_unmatched_inbound(db, limit)

    found = run_with_database(action)
    if as_json:
        print_json([_unmatched_json(i) for i in found])
        return
    rows = [
        (
            format_utc_timestamp(i.received_at),
            i.channel,
            i.sender,
            i.recipient,
            ", ".join(str(o) for o in i.candidates) or "(none)",
            i.body,
        )
        for i in found
    ]
    columns = ["received (UTC)", "channel", "from", "to", "open conversations", "body"]
    print_table("Unmatched inbound SMS", columns, rows)
