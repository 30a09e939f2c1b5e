"""`tambuli whatsapp numbers …` and `tambuli whatsapp templates …`."""

from __future__ import annotations

import click

from tambuli.billing.models import format_usd
from tambuli.cli.context import (
    clock,
    json_option,
    print_json,
    print_table,
    read_usd_option,
    run_with_database,
)
from tambuli.clock import format_utc_timestamp
from tambuli.db.engine import Database
from tambuli.whatsapp import numbers as registry
from tambuli.whatsapp.models import DEFAULT_PRICE_MICRO
from tambuli.whatsapp.number_store import BusinessNumber, StoredTemplate


def _number_json(entry: BusinessNumber) -> dict[str, object]:
    return {
        "number": entry.number,
        "orgId": entry.org_id,
        "phoneNumberId": entry.phone_number_id,
        "tokenEnv": entry.token_env,
        "channel": entry.channel,
        "price": format_usd(entry.price_micro),
        "priceMicro": entry.price_micro,
        "createdAt": format_utc_timestamp(entry.created_at),
    }


def _number_row(entry: BusinessNumber) -> tuple[str, int, str, str, str, str]:
    return (
        entry.number,
        entry.org_id,
        entry.phone_number_id,
        entry.token_env or "-",
        entry.channel,
        format_usd(entry.price_micro),
    )


_NUMBER_COLUMNS = ["number", "organization", "phone-number-id", "token env", "channel", "price"]


def _template_json(entry: StoredTemplate) -> dict[str, object]:
    return {
        "name": entry.name,
        "language": entry.language,
        "body": entry.body,
        "parameters": entry.parameter_count,
        "createdAt": format_utc_timestamp(entry.created_at),
    }


def _template_row(entry: StoredTemplate) -> tuple[str, str, int, str]:
    return entry.name, entry.language, entry.parameter_count, entry.body


_TEMPLATE_COLUMNS = ["name", "language", "parameters", "body"]


@click.group()
def whatsapp() -> None:
    """WhatsApp Business numbers and their message templates."""


@whatsapp.group()
def numbers() -> None:
    """WhatsApp Business numbers registered to one organization each."""


@numbers.command("add")
@click.option("--org", "org_id", required=True, type=int, help="The owning organization.")
@click.option("--number", required=True, help="The business number, international form.")
@click.option("--phone-number-id", required=True, help="The Cloud API's ID of the number.")
@click.option(
    "--token-env", default="", help="NAME of the environment variable holding the access token."
)
@click.option(
    "--channel",
    default=registry.SIMULATOR_CHANNEL,
    show_default=True,
    help="simulator, or the name of a whatsapp_cloud channel of the channel config file.",
)
@click.option(
    "--price",
    "price_usd",
    default=format_usd(DEFAULT_PRICE_MICRO),
    show_default=True,
    help="USD charged per message sent from the number.",
)
@json_option
def numbers_add(
    org_id: int,
    number: str,
    phone_number_id: str,
    token_env: str,
    channel: str,
    price_usd: str,
    as_json: bool,
) -> None:
    """Register a business number to an organization (again: change its settings)."""
    price_micro = read_usd_option(price_usd, "--price")

    async def action(db: Database) -> BusinessNumber:
        return await registry.add_number(
            db, clock, org_id, number, phone_number_id, token_env, channel, price_micro
        )

    entry = run_with_database(action)
    if as_json:
        print_json(_number_json(entry))
    else:
        print_table("WhatsApp number registered", _NUMBER_COLUMNS, [_number_row(entry)])


@numbers.command("list")
@click.option("--org", "org_id", type=int, default=None, help="Only this organization's.")
@json_option
def numbers_list(org_id: int | None, as_json: bool) -> None:
    """Show the registered business numbers."""

    async def action(db: Database) -> list[BusinessNumber]:
        return await registry.list_numbers(db, org_id)

    entries = run_with_database(action)
    if as_json:
        print_json([_number_json(e) for e in entries])
    else:
        print_table("WhatsApp numbers", _NUMBER_COLUMNS, [_number_row(e) for e in entries])


@numbers.command("remove")
@click.option("--number", required=True, help="The business number.")
def numbers_remove(number: str) -> None:
    """Forget a business number and its templates; its messages stay."""

    async def action(db: Database) -> None:
        await registry.remove_number(db, number)

    run_with_database(action)
    click.echo(f"WhatsApp number {number.strip()} removed", err=True)


@whatsapp.group()
def templates() -> None:
    """Template messages registered for a business number."""


@templates.command("add")
@click.option("--number", required=True, help="The business number.")
@click.option("--name", required=True, help="The template's name, as approved by WhatsApp.")
@click.option("--language", required=True, help='Its language code, e.g. "en" or "en_US".')
@click.option("--body", required=True, help="Its text, with {{1}}, {{2}}, … parameters.")
@json_option
def templates_add(number: str, name: str, language: str, body: str, as_json: bool) -> None:
    """Register a template (again with the same name and language: a new body)."""

    async def action(db: Database) -> StoredTemplate:
        return await registry.add_template(db, clock, number, name, language, body)

    entry = run_with_database(action)
    if as_json:
        print_json(_template_json(entry))
    else:
        print_table("Template registered", _TEMPLATE_COLUMNS, [_template_row(entry)])


@templates.command("list")
@click.option("--number", required=True, help="The business number.")
@json_option
def templates_list(number: str, as_json: bool) -> None:
    """Show a number's templates."""

    async def action(db: Database) -> list[StoredTemplate]:
        return await registry.list_templates(db, number)

    entries = run_with_database(action)
    if as_json:
        print_json([_template_json(e) for e in entries])
    else:
        print_table("Templates", _TEMPLATE_COLUMNS, [_template_row(e) for e in entries])


@templates.command("remove")
@click.option("--number", required=True, help="The business number.")
@click.option("--name", required=True, help="The template's name.")
@click.option("--language", required=True, help="Its language code.")
def templates_remove(number: str, name: str, language: str) -> None:
    """Forget a template."""

    async def action(db: Database) -> None:
        await registry.remove_template(db, number, name, language)

    run_with_database(action)
    click.echo(f"template {name.strip()} ({language.strip()}) removed", err=True)
