"""`tambuli groups` and `tambuli fields` commands."""

from __future__ import annotations

import click

from tambuli.cli.context import clock, json_option, print_json, print_table, run_with_database
from tambuli.contacts import service as contacts
from tambuli.db.engine import Database


@click.group()
def groups() -> None:
    """Contact groups."""


@groups.command("create")
@click.option("--org", "org_id", required=True, type=int)
@click.option("--name", required=True)
def groups_create(org_id: int, name: str) -> None:
    """Create a group; prints {"id", "name"}."""

    async def action(db: Database) -> tuple[int, str]:
        group = await contacts.create_group(db, clock, org_id, name)
        return group.id, group.name

    group_id, group_name = run_with_database(action)
    print_json({"id": group_id, "name": group_name})


@groups.command("list")
@click.option("--org", "org_id", required=True, type=int)
@json_option
def groups_list(org_id: int, as_json: bool) -> None:
    """List groups with their sizes."""

    async def action(db: Database) -> list[tuple[int, str, int]]:
        return [(g.id, g.name, g.size) for g in await contacts.list_groups(db, org_id)]

    rows = run_with_database(action)
    if as_json:
        print_json([{"id": r[0], "name": r[1], "size": r[2]} for r in rows])
    else:
        print_table("Groups", ["id", "name", "contacts"], rows)


@click.group()
def fields() -> None:
    """Contact custom fields."""


@fields.command("create")
@click.option("--org", "org_id", required=True, type=int)
@click.option("--name", required=True)
def fields_create(org_id: int, name: str) -> None:
    """Create a custom field (or find the existing one); prints {"id", "name"}."""

    async def action(db: Database) -> tuple[int, str]:
        field = await contacts.create_custom_field(db, clock, org_id, name)
        return field.id, field.name

    field_id, field_name = run_with_database(action)
    print_json({"id": field_id, "name": field_name})


@fields.command("list")
@click.option("--org", "org_id", required=True, type=int)
@json_option
def fields_list(org_id: int, as_json: bool) -> None:
    """List custom fields."""

    async def action(db: Database) -> list[tuple[int, str]]:
        return [(f.id, f.name) for f in await contacts.list_custom_fields(db, org_id)]

    rows = run_with_database(action)
    if as_json:
        print_json([{"id": r[0], "name": r[1]} for r in rows])
    else:
        print_table("Custom fields", ["id", "name"], rows)
