"""`tambuli files`: list, upload and delete an organization's stored files."""

from __future__ import annotations

from pathlib import Path

import click

from tambuli.cli.context import (
    clock,
    json_option,
    print_json,
    print_table,
    read_settings,
    run_with_database,
)
from tambuli.clock import format_utc_timestamp
from tambuli.db.engine import Database
from tambuli.files import service as stored_files
from tambuli.files.models import AudioFilter, StoredFile, Upload, UploadReport
from tambuli.organizations import service as organizations

_COLUMNS = ["filename", "title", "category", "size", "thumbnail", "uploaded at (UTC)"]
_org_option = click.option("--org", "org_id", required=True, type=int, help="The organization.")


def _file_json(record: StoredFile) -> dict[str, object]:
    return {
        "filename": record.filename,
        "title": record.title,
        "category": record.category,
        "transcript": record.transcript,
        "size": record.size,
        "sha1": record.sha1,
        "upload": format_utc_timestamp(record.uploaded_at),
        "thumb": record.has_thumbnail,
    }


def _file_row(record: StoredFile) -> tuple[str, str, str, int, str, str]:
    return (
        record.filename,
        record.title,
        record.category,
        record.size,
        "yes" if record.has_thumbnail else "",
        format_utc_timestamp(record.uploaded_at),
    )


@click.group("files")
def files() -> None:
    """Stored files (media of WhatsApp messages and voice prompts), per organization."""


@files.command("list")
@_org_option
@click.option("--category", default=None, help="Only files of this category.")
@json_option
def files_list(org_id: int, category: str | None, as_json: bool) -> None:
    """Show the organization's files, sorted by title."""

    async def action(db: Database) -> list[StoredFile]:
        await organizations.get_organization(db, org_id)
        return await stored_files.list_files(db, org_id, category)

    found = run_with_database(action)
    if as_json:
        print_json([_file_json(record) for record in found])
    else:
        print_table(f"Files of organization {org_id}", _COLUMNS, [_file_row(r) for r in found])


@files.command("upload")
@_org_option
@click.option("--category", required=True, help="The category of the files (e.g. uploads).")
@click.option(
    "--filter",
    "audio_filter",
    type=click.Choice([f.value for f in AudioFilter]),
    default=None,
    help="Convert audio: ogg (Opus), mp3, mono (down-mix) or norm (loudness).",
)
@click.option("--video", is_flag=True, help="Check each file is a video WhatsApp accepts.")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@json_option
def files_upload(
    org_id: int,
    category: str,
    audio_filter: str | None,
    video: bool,
    paths: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Store files as the API's upload does; each file's result is shown."""
    limit = read_settings().max_file_bytes
    uploads = [Upload(path.name, _read_capped(path, limit)) for path in paths]

    async def action(db: Database) -> UploadReport:
        await organizations.get_organization(db, org_id)
        return await stored_files.upload_files(
            db,
            clock,
            org_id,
            category,
            uploads,
            audio_filter=AudioFilter(audio_filter) if audio_filter else None,
            video=video,
            max_file_bytes=limit,
        )

    report = run_with_database(action)
    if as_json:
        print_json({"results": report.results, "files": [_file_json(r) for r in report.stored]})
        return
    print_table("Files stored", _COLUMNS, [_file_row(r) for r in report.stored])
    for name, error in report.results.items():
        if error:
            click.echo(f"{name}: {error}", err=True)


def _read_capped(path: Path, limit: int) -> bytes:
    # One byte past the limit is enough for the service to refuse the file.
    with path.open("rb") as source:
        return source.read(limit + 1)


@files.command("delete")
@_org_option
@click.argument("filename")
def files_delete(org_id: int, filename: str) -> None:
    """Delete a file nothing uses any more."""

    async def action(db: Database) -> None:
        await organizations.get_organization(db, org_id)
        await stored_files.delete_file(db, org_id, filename)

    run_with_database(action)
    click.echo(f"file {filename} deleted", err=True)
