"""`tambuli contacts import` and `tambuli contacts export`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, BinaryIO

import click

from tambuli.cli.context import clock, print_json, run_with_database
from tambuli.contacts import exporting, importing
from tambuli.db.engine import Database
from tambuli.organizations import service as organizations


@click.group()
def contacts() -> None:
    """Contacts: import from CSV, export to CSV or XLSX."""


@contacts.command("import")
@click.option("--org", "org_id", required=True, type=int)
@click.option(
    "--group", "group_id", type=int, help="Also add every imported contact to this group."
)
@click.argument("file", type=click.File("rb"))
def contacts_import(org_id: int, group_id: int | None, file: BinaryIO) -> None:
    """Create contacts from a CSV FILE ("-" reads stdin); prints {"created", "failed", "errors"}.

    The header line names the columns (fullPhoneNumber, firstName, groups, …); other
    columns are custom fields. Bad rows are skipped and listed by line number.
    """
    data = file.read()

    async def action(db: Database) -> importing.ImportReport:
        await organizations.get_organization(db, org_id)
        return await importing.import_contacts(db, clock, org_id, data, group_id)

    report = run_with_database(action)
    print_json(
        {
            "created": report.created,
            "failed": report.failed,
            "errors": [
                {"row": e.line, "error": e.message, "errorCode": e.error_code}
                for e in report.errors
            ],
        }
    )


@contacts.command("export")
@click.option("--org", "org_id", required=True, type=int)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "xlsx"]),
    default="csv",
    show_default=True,
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="File to write; standard output when omitted.",
)
def contacts_export(org_id: int, file_format: str, output: Path | None) -> None:
    """Write every contact of an organization as CSV or XLSX."""
    if output is None and file_format == "xlsx" and sys.stdout.isatty():
        raise click.UsageError("XLSX is binary: give --output FILE or redirect standard output")
    with click.open_file(str(output) if output else "-", "wb") as sink:
        run_with_database(lambda db: _write_export(db, org_id, file_format, sink))


async def _write_export(db: Database, org_id: int, file_format: str, sink: IO[bytes]) -> None:
    await organizations.get_organization(db, org_id)
    if file_format == "xlsx":
        sink.write(await exporting.export_contacts_xlsx(db, org_id))
        return
    async for piece in exporting.stream_contacts_csv(db, org_id):
        sink.write(piece.encode())
