"""`tambuli topups catalogue` commands: import, export, list and reset the operator catalogue."""

from __future__ import annotations

from pathlib import Path

import click

from tambuli.billing.models import format_usd_exact_or_cents
from tambuli.cli.context import print_table, run_with_database
from tambuli.db.engine import Database
from tambuli.errors import TambuliError
from tambuli.topups.builtin_catalogue import BUILTIN_CATALOGUE
from tambuli.topups.catalogue import Catalogue, Operator, ProductKind
from tambuli.topups.catalogue_files import (
    read_catalogue_csv,
    read_catalogue_json,
    write_catalogue_csv,
    write_catalogue_json,
)
from tambuli.topups.catalogue_service import import_catalogue, load_catalogue, reset_catalogue

# Thousands of operators fit in a fraction of this; a larger file is a mistake.
MAX_FILE_BYTES = 20_000_000
FORMATS = ("csv", "json")
format_option = click.option(
    "--format",
    "file_format",
    type=click.Choice(FORMATS),
    default=None,
    help="csv or json; guessed from the file name's extension when left out.",
)


@click.group()
def topups() -> None:
    """Airtime top-ups."""


@topups.group()
def catalogue() -> None:
    """The operator catalogue: which operators exist, what they sell, at what price."""


@catalogue.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@format_option
def catalogue_import(path: Path, file_format: str | None) -> None:
    """Replace the catalogue with the one in FILE (all or nothing)."""
    imported = _read_catalogue_file(path, file_format or _guess_format(path))

    async def action(db: Database) -> None:
        await import_catalogue(db, imported)

    run_with_database(action)
    click.echo(
        f"imported {len(imported.operators)} operators in {len(imported.countries)} countries",
        err=True,
    )


@catalogue.command("export")
@format_option
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
def catalogue_export(file_format: str | None, output: Path | None) -> None:
    """Write the catalogue in effect (imported or built-in) as CSV or JSON."""
    chosen = file_format or (_guess_format(output) if output is not None else "json")
    current = run_with_database(load_catalogue)
    text = write_catalogue_csv(current) if chosen == "csv" else write_catalogue_json(current)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with output.open("w", encoding="utf-8", newline="") as file:
            file.write(text)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from exc


@catalogue.command("list")
@click.option("--country", default=None, help="Only this two-letter country, e.g. PH.")
def catalogue_list(country: str | None) -> None:
    """Show the operators of the catalogue in effect, their amounts and prices."""
    current = run_with_database(load_catalogue)
    wanted = None if country is None else country.strip().upper()
    rows = [
        (
            operator.country,
            operator.code,
            operator.name,
            operator.currency,
            operator.denominations().describe(),
            _describe_prices(operator),
        )
        for operator in current.operators
        if wanted is None or operator.country == wanted
    ]
    print_table(
        _describe_source(current),
        ["country", "operator", "name", "currency", "amounts", "price (USD)"],
        rows,
    )


@catalogue.command("reset")
def catalogue_reset() -> None:
    """Remove the imported catalogue: the built-in one applies again."""
    run_with_database(reset_catalogue)
    click.echo("catalogue reset: the built-in catalogue applies", err=True)


def _guess_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise click.ClickException(f"cannot tell the format of {path}: use --format csv or json")
    return suffix


def _read_catalogue_file(path: Path, file_format: str) -> Catalogue:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise click.ClickException(f"{path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        # utf-8-sig also accepts the byte-order mark spreadsheet programs put in front.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise click.ClickException(
            f"{path} is not UTF-8 text (byte {exc.start + 1}): save it as UTF-8"
        ) from exc
    try:
        return read_catalogue_csv(text) if file_format == "csv" else read_catalogue_json(text)
    except TambuliError as exc:
        raise click.ClickException(f"{path}: {exc.message}") from exc


def _describe_prices(operator: Operator) -> str:
    """The cheapest and dearest top-up of the operator, in USD."""
    amounts = []
    for product in operator.products:
        amounts.append(product.amount_minor)
        if product.kind is ProductKind.RANGE and product.range_max is not None:
            amounts.append(product.range_max)
    prices = [operator.price_for(amount) for amount in amounts]
    low, high = min(prices), max(prices)
    if low == high:
        return format_usd_exact_or_cents(low)
    return f"{format_usd_exact_or_cents(low)} to {format_usd_exact_or_cents(high)}"


def _describe_source(current: Catalogue) -> str:
    if current is BUILTIN_CATALOGUE:
        return "Top-up catalogue (built-in)"
    return "Top-up catalogue (imported)"
