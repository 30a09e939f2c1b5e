"""`tambuli balance` commands."""

from __future__ import annotations

import click

from tambuli.billing import service as billing
from tambuli.billing.models import Balance, format_usd
from tambuli.cli.context import (
    clock,
    json_option,
    print_json,
    print_table,
    read_usd_option,
    run_with_database,
)
from tambuli.db.engine import Database


def _balance_json(org_id: int, found: Balance) -> dict[str, object]:
    return {
        "orgId": org_id,
        "balanceMicro": found.balance_micro,
        "balance": format_usd(found.balance_micro),
        "autoRecharge": found.auto_recharge,
        "autoRechargeThresholdMicro": found.auto_recharge_threshold_micro,
        "autoRechargeAmountMicro": found.auto_recharge_amount_micro,
    }


@click.group()
def balance() -> None:
    """Organization balances (micro-USD ledger)."""


@balance.command("show")
@click.option("--org", "org_id", required=True, type=int)
@json_option
def balance_show(org_id: int, as_json: bool) -> None:
    """Show an organization's balance and auto-recharge settings."""

    async def action(db: Database) -> Balance:
        return await billing.get_balance(db, org_id)

    found = run_with_database(action)
    if as_json:
        print_json(_balance_json(org_id, found))
        return
    recharge = (
        f"below {format_usd(found.auto_recharge_threshold_micro)} add "
        f"{format_usd(found.auto_recharge_amount_micro)}"
        if found.auto_recharge
        else "off"
    )
    print_table(
        f"Organization {org_id}",
        ["balance (USD)", "auto-recharge"],
        [(format_usd(found.balance_micro), recharge)],
    )


@balance.command("credit")
@click.option("--org", "org_id", required=True, type=int)
@click.option("--amount", "amount_usd", required=True, help="Amount in USD, e.g. 25 or 0.50.")
@click.option("--reason", default="manual credit", show_default=True)
@json_option
def balance_credit(org_id: int, amount_usd: str, reason: str, as_json: bool) -> None:
    """Add money to an organization's balance."""
    amount = read_usd_option(amount_usd, "--amount")

    async def action(db: Database) -> int:
        return await billing.credit_balance(db, clock, org_id, amount, reason, "cli")

    new_balance = run_with_database(action)
    if as_json:
        print_json({"orgId": org_id, "balanceMicro": new_balance})
    else:
        click.echo(f"organization {org_id} balance: {format_usd(new_balance)} USD")


@balance.command("auto-recharge")
@click.option("--org", "org_id", required=True, type=int)
@click.option("--threshold", "threshold_usd", help="Recharge when the balance falls below this.")
@click.option("--amount", "amount_usd", help="USD added at each recharge.")
@click.option("--off", is_flag=True, help="Turn auto-recharge off.")
def balance_auto_recharge(
    org_id: int, threshold_usd: str | None, amount_usd: str | None, off: bool
) -> None:
    """Set or turn off auto-recharge: below the threshold, the amount is credited."""
    if off and (threshold_usd or amount_usd):
        raise click.UsageError("give either --off or --threshold with --amount")
    if not off and (threshold_usd is None or amount_usd is None):
        raise click.UsageError("give --threshold and --amount, or --off")

    threshold = (
        None
        if threshold_usd is None
        else read_usd_option(threshold_usd, "--threshold", allow_zero=True)
    )
    amount = None if amount_usd is None else read_usd_option(amount_usd, "--amount")

    async def action(db: Database) -> None:
        if threshold is None or amount is None:
            await billing.turn_off_auto_recharge(db, org_id)
        else:
            await billing.set_auto_recharge(db, org_id, threshold, amount)

    run_with_database(action)
    click.echo("auto-recharge " + ("off" if off else "on"), err=True)


@balance.command("history")
@click.option("--org", "org_id", required=True, type=int)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
def balance_history(org_id: int, limit: int, as_json: bool) -> None:
    """Show the newest ledger entries of an organization."""

    async def action(db: Database) -> list[tuple[object, ...]]:
        found = await billing.list_ledger_entries(db, org_id, limit)
        return [
            (
                e.id,
                e.created_at.isoformat(),
                e.kind.value,
                e.amount_micro,
                e.balance_after_micro,
                e.reason,
                e.reference,
            )
            for e in found
        ]

    rows = run_with_database(action)
    columns = ["id", "at", "kind", "amountMicro", "balanceAfterMicro", "reason", "reference"]
    if as_json:
        print_json([dict(zip(columns, r, strict=True)) for r in rows])
    else:
        print_table(f"Ledger of organization {org_id}", columns, rows)
