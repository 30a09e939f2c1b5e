"""`tambuli org`, `tambuli user` and `tambuli token` commands."""

from __future__ import annotations

import click

from tambuli.billing import service as billing
from tambuli.billing.models import parse_usd
from tambuli.cli.context import (
    clock,
    json_option,
    print_json,
    print_table,
    run_with_database,
)
from tambuli.db.engine import Database
from tambuli.errors import TambuliError
from tambuli.organizations import service as organizations
from tambuli.organizations.models import NewOrganization


def _usd(value: str) -> int:
    try:
        return parse_usd(value)
    except TambuliError as exc:
        raise click.BadParameter(exc.message) from exc


@click.group()
def org() -> None:
    """Organizations."""


@org.command("create")
@click.option("--name", required=True, help="Organization name.")
@click.option("--balance", "balance_usd", default="0", help="Starting balance in USD.")
def org_create(name: str, balance_usd: str) -> None:
    """Create an organization with an owner and a token; prints {"orgId", "token"}."""
    amount = _usd(balance_usd)

    async def action(db: Database) -> NewOrganization:
        created = await organizations.create_organization(db, clock, name)
        if amount > 0:
            await billing.credit_balance(
                db, clock, created.org_id, amount, "initial balance", "org create"
            )
        return created

    created = run_with_database(action)
    print_json({"orgId": created.org_id, "token": created.token})


@org.command("list")
@json_option
def org_list(as_json: bool) -> None:
    """List organizations."""

    async def action(db: Database) -> list[tuple[int, str, str]]:
        found = await organizations.list_organizations(db)
        return [(o.id, o.name, o.created_at.isoformat()) for o in found]

    rows = run_with_database(action)
    if as_json:
        print_json([{"orgId": r[0], "name": r[1], "createdAt": r[2]} for r in rows])
    else:
        print_table("Organizations", ["orgId", "name", "created"], rows)


@org.command("add-member")
@click.option("--org", "org_id", required=True, type=int)
@click.option("--user", "user_id", required=True, type=int)
def org_add_member(org_id: int, user_id: int) -> None:
    """Make an existing user a member of another organization."""

    async def action(db: Database) -> None:
        await organizations.add_member(db, clock, org_id, user_id)

    run_with_database(action)
    click.echo(f"user {user_id} is a member of organization {org_id}", err=True)


@click.group()
def user() -> None:
    """Users (people or systems holding API tokens)."""


@user.command("create")
@click.option("--org", "org_id", required=True, type=int, help="First organization.")
@click.option("--name", required=True)
def user_create(org_id: int, name: str) -> None:
    """Create a user in an organization and a token for it; prints {"userId", "token"}."""

    async def action(db: Database) -> tuple[int, str]:
        user_id = await organizations.create_user_in_organization(db, clock, org_id, name)
        return user_id, await organizations.create_token(db, clock, org_id, user_id)

    user_id, new_token = run_with_database(action)
    print_json({"userId": user_id, "token": new_token})


@click.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--org", "org_id", required=True, type=int)
@click.option("--user", "user_id", type=int, default=None, help="Defaults to the owner.")
def token_create(org_id: int, user_id: int | None) -> None:
    """Create an API token; prints {"token"}. It is shown only this once."""

    async def action(db: Database) -> str:
        return await organizations.create_token(db, clock, org_id, user_id)

    print_json({"token": run_with_database(action)})


@token.command("list")
@click.option("--org", "org_id", required=True, type=int)
@json_option
def token_list(org_id: int, as_json: bool) -> None:
    """List the tokens of an organization's members (prefixes only)."""

    async def action(db: Database) -> list[tuple[int, int, str, str, str]]:
        found = await organizations.list_tokens(db, org_id)
        return [
            (
                t.id,
                t.user_id,
                t.prefix + "…",
                t.created_at.isoformat(),
                t.revoked_at.isoformat() if t.revoked_at else "",
            )
            for t in found
        ]

    rows = run_with_database(action)
    if as_json:
        print_json(
            [
                {"id": r[0], "userId": r[1], "prefix": r[2], "createdAt": r[3], "revokedAt": r[4]}
                for r in rows
            ]
        )
    else:
        print_table("API tokens", ["id", "user", "prefix", "created", "revoked"], rows)


@token.command("revoke")
@click.argument("token_value", required=False)
@click.option("--id", "token_id", type=int, default=None, help="Token ID from `token list`.")
def token_revoke(token_value: str | None, token_id: int | None) -> None:
    """Revoke a token, given in full or by its ID."""
    if (token_value is None) == (token_id is None):
        raise click.UsageError("give either the token or --id")

    async def action(db: Database) -> None:
        if token_id is not None:
            await organizations.revoke_token_id(db, clock, token_id)
        else:
            assert token_value is not None
            await organizations.revoke_token(db, clock, token_value)

    run_with_database(action)
    click.echo("token revoked", err=True)
