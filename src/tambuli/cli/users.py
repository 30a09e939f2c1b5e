"""`tambuli user` commands: console users (email, role, sign-in link or password) and
API-token-only users."""

from __future__ import annotations

import sys

import click

from tambuli.cli.context import (
    DEFAULT_CONSOLE_URL,
    clock,
    json_option,
    print_json,
    print_table,
    read_settings,
    run_with_database,
)
from tambuli.db.engine import Database
from tambuli.errors import TambuliError
from tambuli.organizations import service as organizations
from tambuli.organizations import users
from tambuli.organizations.models import Role, UserListing, check_new_password, parse_role


@click.group()
def user() -> None:
    """Users: people who sign in to the console, and systems holding API tokens."""


@user.command("create")
@click.option("--org", "org_id", required=True, type=int, help="Organization to join.")
@click.option("--email", default=None, help="Sign-in email of a person (console user).")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=None,
    help="Role in the organization (console users; default editor).",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin instead of printing a sign-in link.",
)
@click.option("--base-url", default=None, help="Start of the sign-in link (TAMBULI_PUBLIC_URL).")
@click.option("--operator", is_flag=True, help="Also an operator of the whole installation.")
@click.option("--name", default=None, help="A name; without --email, an API-token-only user.")
def user_create(
    org_id: int,
    email: str | None,
    role: str | None,
    password_stdin: bool,
    base_url: str | None,
    operator: bool,
    name: str | None,
) -> None:
    """Create a user in an organization.

    With --email: a person who signs in to the console; prints {"userId", "signInLink"} (a
    one-time link, valid for 24 hours) or, with --password-stdin, {"userId"}. An email that
    already has an account gets the role in this organization. Without --email: a user for API
    tokens; prints {"userId", "token"}.
    """
    if email is None:
        if name is None:
            raise click.UsageError("give --email (a person) or --name (an API token user)")
        if role is not None or password_stdin or operator:
            raise click.UsageError("--role, --password-stdin and --operator need --email")
        _create_token_user(org_id, name)
        return
    password = _read_password_line() if password_stdin else None
    link_base = _link_base(base_url)

    async def action(db: Database) -> tuple[int, str | None]:
        user_id = await users.create_console_user(
            db, clock, org_id, email, parse_role(role or Role.EDITOR.value), password, name or ""
        )
        if operator:
            await users.set_operator(db, user_id, True)
        if password is not None:
            return user_id, None
        return user_id, await users.create_sign_in_link_token(db, clock, user_id)

    user_id, link_token = run_with_database(action)
    if link_token is None:
        print_json({"userId": user_id})
    else:
        print_json({"userId": user_id, "signInLink": f"{link_base}/sign-in/link/{link_token}"})


def _create_token_user(org_id: int, name: str) -> None:
    async def action(db: Database) -> tuple[int, str]:
        user_id = await organizations.create_user_in_organization(db, clock, org_id, name)
        return user_id, await organizations.create_token(db, clock, org_id, user_id)

    user_id, new_token = run_with_database(action)
    print_json({"userId": user_id, "token": new_token})


def _read_password_line() -> str:
    line = sys.stdin.readline()
    password = line[:-1] if line.endswith("\n") else line
    try:
        return check_new_password(password.removesuffix("\r"))
    except TambuliError as exc:
        raise click.ClickException(exc.message) from exc


def _link_base(base_url: str | None) -> str:
    """Where sign-in links point: --base-url, else TAMBULI_PUBLIC_URL, else the default serve
    address."""
    chosen = base_url if base_url is not None else read_settings().public_url
    return (chosen or DEFAULT_CONSOLE_URL).rstrip("/")


@user.command("list")
@click.option("--org", "org_id", type=int, default=None, help="Only this organization's users.")
@json_option
def user_list(org_id: int | None, as_json: bool) -> None:
    """List users, their sign-in emails and their roles."""

    async def action(db: Database) -> list[UserListing]:
        return await users.list_users(db, org_id)

    found = run_with_database(action)
    if as_json:
        print_json(
            [
                {
                    "userId": u.id,
                    "name": u.name,
                    "email": u.email,
                    "operator": u.is_operator,
                    "hasPassword": u.has_password,
                    "roles": [{"orgId": o, "role": r.value} for o, r in u.roles],
                }
                for u in found
            ]
        )
        return
    rows = [
        (
            u.id,
            u.email or "(API tokens only)",
            u.name,
            ", ".join(f"{o}:{r.value}" for o, r in u.roles),
            "yes" if u.is_operator else "",
            "yes" if u.has_password else "",
        )
        for u in found
    ]
    print_table("Users", ["userId", "email", "name", "org:role", "operator", "password"], rows)
