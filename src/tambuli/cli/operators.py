"""`tambuli operator token`: tokens for the installation's operator (status and metrics)."""

from __future__ import annotations

import click

from tambuli.cli.context import clock, json_option, print_json, print_table, run_with_database
from tambuli.db.engine import Database
from tambuli.organizations import service as organizations


@click.group()
def operator() -> None:
    """The installation's operator (not an organization's user)."""


@operator.group("token")
def operator_token() -> None:
    """Operator tokens: they read GET /v1/status and GET /metrics, and nothing of an
    organization."""


@operator_token.command("create")
@click.option("--note", default="", help="What the token is for (shown by `list`).")
def operator_token_create(note: str) -> None:
    """Create an operator token; prints {"token"}. It is shown only this once."""

    async def action(db: Database) -> str:
        return await organizations.create_operator_token(db, clock, note)

    print_json({"token": run_with_database(action)})


@operator_token.command("list")
@json_option
def operator_token_list(as_json: bool) -> None:
    """List operator tokens (prefixes only)."""

    async def action(db: Database) -> list[tuple[int, str, str, str, str]]:
        found = await organizations.list_operator_tokens(db)
        return [
            (
                t.id,
                t.prefix + "…",
                t.note,
                t.created_at.isoformat(),
                t.revoked_at.isoformat() if t.revoked_at else "",
            )
            for t in found
        ]

    rows = run_with_database(action)
    if as_json:
        print_json(
            [
                {"id": r[0], "prefix": r[1], "note": r[2], "createdAt": r[3], "revokedAt": r[4]}
                for r in rows
            ]
        )
    else:
        print_table("Operator tokens", ["id", "prefix", "note", "created", "revoked"], rows)


@operator_token.command("revoke")
@click.option("--id", "token_id", type=int, required=True, help="Token ID from `list`.")
def operator_token_revoke(token_id: int) -> None:
    """Revoke an operator token by its ID."""

    async def action(db: Database) -> None:
        await organizations.revoke_operator_token(db, clock, token_id)

    run_with_database(action)
    click.echo("operator token revoked", err=True)
