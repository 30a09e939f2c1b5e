"""`tambuli org` and `tambuli token` commands."""

from __future__ import annotations

import click

from tambuli.billing import service as billing
from tambuli.campaigns.opt_outs import DEFAULT_OPT_IN_KEYWORDS, DEFAULT_OPT_OUT_KEYWORDS
from tambuli.cli.context import (
    clock,
    json_option,
    print_json,
    print_table,
    read_usd_option,
    run_with_database,
)
from tambuli.db.engine import Database
from tambuli.errors import TambuliError
from tambuli.messaging.models import check_sender_id
from tambuli.organizations import profile as profiles
from tambuli.organizations import service as organizations
from tambuli.organizations.models import (
    ClientPushEvents,
    NewOrganization,
    check_keyword_list,
    parse_window_hours,
)
from tambuli.webhooks.address_guard import check_webhook_url


@click.group()
def org() -> None:
    """Organizations."""


@org.command("create")
@click.option("--name", required=True, help="Organization name.")
@click.option("--balance", "balance_usd", default="0", help="Starting balance in USD.")
@click.option(
    "--sender-id",
    default="",
    help="Default sender ID of the organization (else the server's TAMBULI_DEFAULT_SENDER_ID).",
)
def org_create(name: str, balance_usd: str, sender_id: str) -> None:
    """Create an organization with an owner and a token; prints {"orgId", "token"}."""
    amount = read_usd_option(balance_usd, "--balance", allow_zero=True)
    sender = _sender_id(sender_id)

    async def action(db: Database) -> NewOrganization:
        created = await organizations.create_organization(db, clock, name, default_sender_id=sender)
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


def _sender_id(value: str) -> str:
    if not value.strip():
        return ""  # clears the default: every send must then name its sender
    try:
        return check_sender_id(value)
    except TambuliError as exc:
        raise click.ClickException(f"invalid --sender-id: {exc.message}") from exc


def _webhook_url(option: str, value: str) -> str:
    if not value.strip():
        return ""  # clears it: nothing is pushed there any more
    try:
        return check_webhook_url(value.strip())
    except ValueError as exc:
        raise click.ClickException(f"invalid {option}: {exc}") from exc


def _window_seconds(hours: str) -> int:
    try:
        return parse_window_hours(hours)
    except TambuliError as exc:
        raise click.ClickException(f"invalid --delivery-window-hours: {exc.message}") from exc


def _push_events(value: str) -> ClientPushEvents:
    try:
        return ClientPushEvents(value.strip().lower())
    except ValueError:
        choices = " or ".join(choice.value for choice in ClientPushEvents)
        raise click.ClickException(
            f"invalid --client-push-events: {value!r}; give {choices}"
        ) from None


def _profile_json(profile: profiles.OrgProfile) -> dict[str, object]:
    # The webhook secret stays out: `org webhook-secret` shows it on purpose only.
    return {
        "orgId": profile.org_id,
        "defaultSenderId": profile.default_sender_id,
        "deliveryWindowSeconds": profile.delivery_window_seconds,
        "inboundUrl": profile.inbound_url,
        "topupUrl": profile.topup_url,
        "clientPushEvents": profile.client_push_events.value,
        "hasWebhookSecret": bool(profile.webhook_secret),
        "optOutKeywords": _effective_keywords(profile.opt_out_keywords, DEFAULT_OPT_OUT_KEYWORDS),
        "optInKeywords": _effective_keywords(profile.opt_in_keywords, DEFAULT_OPT_IN_KEYWORDS),
    }


def _effective_keywords(setting: str, defaults: tuple[str, ...]) -> list[str]:
    words = [w.strip() for w in setting.split(",") if w.strip()]
    return words or list(defaults)


def _keywords(option: str, text: str) -> str:
    """A comma-separated keyword list as stored; "" restores the defaults."""
    try:
        return check_keyword_list(text)
    except TambuliError as exc:
        raise click.ClickException(f"invalid {option}: {exc.message}") from exc


def _print_profile(profile: profiles.OrgProfile, as_json: bool) -> None:
    if as_json:
        print_json(_profile_json(profile))
        return
    stop_words = _effective_keywords(profile.opt_out_keywords, DEFAULT_OPT_OUT_KEYWORDS)
    start_words = _effective_keywords(profile.opt_in_keywords, DEFAULT_OPT_IN_KEYWORDS)
    seconds = profile.delivery_window_seconds
    window = f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds} s"
    print_table(
        f"Organization {profile.org_id}",
        ["setting", "value"],
        [
            (
                "default sender ID",
                profile.default_sender_id or "(none: the server's default applies)",
            ),
            ("delivery window", window),
            ("inbound URL", profile.inbound_url or "(none)"),
            ("top-up results URL", profile.topup_url or "(none)"),
            ("clientPushURL events", profile.client_push_events.value),
            ("webhook secret", "set" if profile.webhook_secret else "not created yet"),
            ("opt-out keywords", ", ".join(stop_words)),
            ("opt-in keywords", ", ".join(start_words)),
        ],
    )


@org.command("show")
@click.option("--org", "org_id", required=True, type=int)
@json_option
def org_show(org_id: int, as_json: bool) -> None:
    """Show an organization's messaging settings (never its webhook secret)."""

    async def action(db: Database) -> profiles.OrgProfile:
        return await profiles.get_profile(db, org_id)

    _print_profile(run_with_database(action), as_json)


@org.command("set")
@click.option("--org", "org_id", required=True, type=int)
@click.option("--sender-id", help='Default sender ID of the organization ("" clears it).')
@click.option("--inbound-url", help='URL inbound SMS are pushed to ("" clears it).')
@click.option("--topup-url", help='URL final top-up results are pushed to ("" clears it).')
@click.option("--delivery-window-hours", "window_hours", help="How long delivery is retried.")
@click.option(
    "--client-push-events",
    "push_events",
    help="What is pushed to a message's clientPushURL: receipts (as engageSPARK) or all.",
)
@click.option(
    "--opt-out-keywords",
    help='Comma-separated words that opt a number out of campaigns ("" restores the defaults).',
)
@click.option(
    "--opt-in-keywords",
    help='Comma-separated words that opt a number back in ("" restores the defaults).',
)
@json_option
def org_set(
    org_id: int,
    sender_id: str | None,
    inbound_url: str | None,
    topup_url: str | None,
    window_hours: str | None,
    opt_out_keywords: str | None,
    opt_in_keywords: str | None,
    push_events: str | None,
    as_json: bool,
) -> None:
    """Change an organization's messaging settings; prints the new settings."""
    given = (
        sender_id,
        inbound_url,
        topup_url,
        window_hours,
        opt_out_keywords,
        opt_in_keywords,
        push_events,
    )
    if all(value is None for value in given):
        raise click.UsageError(
            "give --sender-id, --inbound-url, --topup-url, --delivery-window-hours, "
            "--opt-out-keywords, --opt-in-keywords or --client-push-events"
        )
    stop_words = None
    if opt_out_keywords is not None:
        stop_words = _keywords("--opt-out-keywords", opt_out_keywords)
    start_words = None
    if opt_in_keywords is not None:
        start_words = _keywords("--opt-in-keywords", opt_in_keywords)
    # Everything is checked before the database is touched, so a bad value changes nothing.
    sender = None if sender_id is None else _sender_id(sender_id)
    url = None if inbound_url is None else _webhook_url("--inbound-url", inbound_url)
    results_url = None if topup_url is None else _webhook_url("--topup-url", topup_url)
    window = None if window_hours is None else _window_seconds(window_hours)
    events = None if push_events is None else _push_events(push_events)

    async def action(db: Database) -> profiles.OrgProfile:
        return await profiles.update_profile(
            db,
            org_id,
            default_sender_id=sender,
            delivery_window_seconds=window,
            inbound_url=url,
            topup_url=results_url,
            opt_out_keywords=stop_words,
            opt_in_keywords=start_words,
            client_push_events=events,
        )

    _print_profile(run_with_database(action), as_json)


@org.command("webhook-secret")
@click.option("--org", "org_id", required=True, type=int)
@click.option("--rotate", is_flag=True, help="Replace the secret; the old one stops working.")
def org_webhook_secret(org_id: int, rotate: bool) -> None:
    """Print the secret that signs webhooks; prints {"webhookSecret"}. Created on first use."""
    # The webhook service pulls in the HTTP client; other commands should not pay for that.
    from tambuli.webhooks.service import read_webhook_secret, rotate_webhook_secret

    async def action(db: Database) -> str:
        if rotate:
            return await rotate_webhook_secret(db, org_id)
        return await read_webhook_secret(db, org_id)

    print_json({"webhookSecret": run_with_database(action)})


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
