"""`tambuli` top-level group and the serve / migrate commands."""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import shlex
import signal
import sys
from dataclasses import dataclass

import click

from tambuli import __version__
from tambuli.billing import service as billing
from tambuli.cli import campaigns as campaigns_cli
from tambuli.cli import contacts as contacts_cli
from tambuli.cli import files as files_cli
from tambuli.cli import messaging as messaging_cli
from tambuli.cli import money, operators, orgs, transfer
from tambuli.cli import senders as senders_cli
from tambuli.cli import topups as topups_cli
from tambuli.cli import users as users_cli
from tambuli.cli import whatsapp as whatsapp_cli
from tambuli.cli.context import (
    clock,
    read_channel_config,
    read_settings,
    run,
    run_with_database,
)
from tambuli.cli.monitoring import metrics_host_option, metrics_port_option, start_metrics
from tambuli.db.engine import Database
from tambuli.db.migrate import apply_migrations, read_schema_revision
from tambuli.db.work_notices import WorkAnnouncer
from tambuli.log_format import configure_logging
from tambuli.organizations import service as organizations
from tambuli.organizations import users
from tambuli.organizations.models import Role
from tambuli.services import build_services
from tambuli.settings import Settings
from tambuli.whatsapp import numbers as whatsapp_numbers

DEMO_ORG_NAME = "Demo organization"
# The demo owner's sign-in email (example.org is reserved for examples: it reaches nobody).
DEMO_EMAIL = "demo@example.org"
# The demo organization's simulated WhatsApp Business number (+1 555 01xx numbers are fictional).
DEMO_WHATSAPP_NUMBER = "15555550100"


@click.group()
@click.version_option(__version__, prog_name="tambuli")
def cli() -> None:
    """Tambuli: a self-hostable, engageSPARK-compatible messaging platform."""


@cli.command()
def migrate() -> None:
    """Apply pending database migrations and exit."""

    async def action(db: Database) -> tuple[str | None, str | None]:
        return await read_schema_revision(db)

    current, _ = run_with_database(action)
    click.echo(f"database is at revision {current}", err=True)


@dataclass(frozen=True)
class Demo:
    """What a first start made: the demo organization, its API token and its console owner."""

    org_id: int
    token: str
    email: str
    password: str


async def _create_demo_organization(db: Database, settings: Settings) -> Demo | None:
    if await organizations.has_any_organization(db):
        return None
    created = await organizations.create_organization(db, clock, DEMO_ORG_NAME)
    if settings.demo_balance_micro > 0:
        await billing.credit_balance(
            db, clock, created.org_id, settings.demo_balance_micro, "demo funds", "first start"
        )
    # A simulated WhatsApp Business number with Meta's own first template, so WhatsApp can be
    # tried with no account.
    await whatsapp_numbers.add_number(
        db, clock, created.org_id, DEMO_WHATSAPP_NUMBER, "demo", "", "simulator"
    )
    await whatsapp_numbers.add_template(
        db, clock, DEMO_WHATSAPP_NUMBER, "hello_world", "en_US", "Hello World"
    )
    password = secrets.token_urlsafe(12)
    await users.create_console_user(
        db, clock, created.org_id, DEMO_EMAIL, Role.OWNER, password, "Demo owner"
    )
    return Demo(created.org_id, created.token, DEMO_EMAIL, password)


def _print_welcome(host: str, port: int, demo: Demo | None) -> None:
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    base = f"http://{shown_host}:{port}"
    click.echo(
        f"Tambuli {__version__} listening on {base} (console: {base}/, API docs: {base}/docs)"
    )
    if demo is None:
        click.echo("Create an organization with: tambuli org create --name NAME --balance 10")
        return
    org_id, token = demo.org_id, demo.token
    header = shlex.quote(f"Authorization: Token {token}")
    click.echo(
        "Created a demo organization with 10.00 USD (the token and password are shown only once):"
    )
    click.echo(f"  orgId: {org_id}")
    click.echo(f"  token: {token}")
    click.echo(f"Sign in to the console at {base}/ as its owner:")
    click.echo(f"  email: {demo.email}")
    click.echo(f"  password: {demo.password}")
    click.echo("Try it:")
    click.echo(f"  curl -H {header} {base}/v1/organizations/{org_id}/balance.json")
    body = shlex.quote(
        f'{{"orgId": {org_id}, "from": "Tambuli", "fullPhoneNumber": "639171234567",'
        ' "message": "Hello from Tambuli"}'
    )
    click.echo("Send an SMS through the built-in simulator:")
    click.echo(f"  curl -H {header} -H 'Content-Type: application/json' -d {body} \\")
    click.echo(f"    {base}/v1/sms/phonenumber")
    body = shlex.quote(
        f'{{"orgId": {org_id}, "from": "{DEMO_WHATSAPP_NUMBER}", "fullPhoneNumber":'
        ' "639171234567", "message": "", "content": {"name": "hello_world",'
        ' "language": "en_US"}}'
    )
    click.echo("Send a WhatsApp template message through the built-in simulator:")
    click.echo(f"  curl -H {header} -H 'Content-Type: application/json' -d {body} \\")
    click.echo(f"    {base}/v1/whatsapp/contact")


def _open_long_running_database(settings: Settings) -> Database:
    """The database of `serve` and `worker`, with the pool the settings ask for."""
    return Database(
        settings.database_url,
        checkpoint_in_background=True,
        pool_size=settings.db_pool_size,
        pool_overflow=settings.db_pool_overflow,
        pool_wait_seconds=settings.db_pool_wait_seconds,
    )


async def _serve(
    settings: Settings,
    host: str,
    port: int,
    with_workers: bool,
    metrics_at: tuple[str, int | None] = ("127.0.0.1", None),
) -> None:
    # The web stack takes a second to import; other commands should not pay for it.
    from tambuli.api.app import build_app
    from tambuli.api.server import serve_http
    from tambuli.web.routes import build_console
    from tambuli.workers.runner import Workers

    db = _open_long_running_database(settings)
    stop = asyncio.Event()
    background: asyncio.Task[None] | None = None
    # On PostgreSQL, workers in other processes hear of new work through NOTIFY.
    announcer = None if db.is_sqlite else WorkAnnouncer(settings.database_url)
    try:
        await apply_migrations(db)
        start_metrics(db, clock, *metrics_at)
        demo = await _create_demo_organization(db, settings)
        channel_config = read_channel_config(settings)
        services = build_services(
            db, clock, settings, announcer.announce if announcer is not None else None
        )
        workers = Workers(services, channel_config) if with_workers else None
        console, console_state = build_console(
            db, clock, settings, workers.read_channel_health if workers else None
        )
        app = build_app(
            services,
            channel_config=channel_config,
            read_channel_health=workers.read_channel_health if workers else None,
            read_worker_problems=workers.read_loop_problems if workers else None,
            beside=console,
            beside_state=console_state,
        )
        if workers is not None:
            background = asyncio.create_task(workers.run(stop))
        # Start-up objects (routes, compiled statements, phone metadata) live for the whole
        # process: moving them out of the collector's view and collecting young objects less
        # often takes multi-millisecond pauses off the request path.
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 20, 20)
        _print_welcome(host, port, demo)
        sys.stdout.flush()
        await serve_http(app, host, port)
    finally:
        stop.set()
        if background is not None:
            await background
        logging.getLogger("tambuli").info("database write transactions: %d", db.write_transactions)
        if announcer is not None:
            await announcer.close()
        await db.dispose()


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--no-workers",
    is_flag=True,
    help="Serve the API only; run delivery with `tambuli worker` elsewhere.",
)
@metrics_port_option
@metrics_host_option
def serve(
    host: str, port: int, no_workers: bool, metrics_port: int | None, metrics_host: str
) -> None:
    """Run the HTTP API (and, unless --no-workers, the background workers)."""
    settings = read_settings()
    configure_logging(settings.log_format, settings.log_level)
    run(
        _serve(
            settings,
            host,
            port,
            with_workers=not no_workers,
            metrics_at=(metrics_host, metrics_port),
        )
    )


async def _work(settings: Settings, metrics_at: tuple[str, int | None]) -> None:
    from tambuli.workers.runner import Workers

    db = _open_long_running_database(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await apply_migrations(db)
        start_metrics(db, clock, *metrics_at)
        click.echo("Tambuli worker running (delivery, receipts, webhooks); Ctrl-C stops it")
        sys.stdout.flush()
        services = build_services(db, clock, settings)
        await Workers(services, read_channel_config(settings)).run(stop)
    finally:
        await db.dispose()


@cli.command()
@metrics_port_option
@metrics_host_option
def worker(metrics_port: int | None, metrics_host: str) -> None:
    """Run the background workers only (delivery, receipts, webhooks), without the API."""
    settings = read_settings()
    configure_logging(settings.log_format, settings.log_level)
    run(_work(settings, (metrics_host, metrics_port)))


cli.add_command(orgs.org)
cli.add_command(orgs.token)
cli.add_command(users_cli.user)
cli.add_command(money.balance)
cli.add_command(contacts_cli.groups)
cli.add_command(contacts_cli.fields)
cli.add_command(transfer.contacts)
cli.add_command(campaigns_cli.campaign)
cli.add_command(files_cli.files)
cli.add_command(messaging_cli.prices)
cli.add_command(messaging_cli.simulator)
cli.add_command(messaging_cli.channels)
cli.add_command(messaging_cli.routes)
cli.add_command(senders_cli.senders)
cli.add_command(senders_cli.inbound)
cli.add_command(whatsapp_cli.whatsapp)
cli.add_command(topups_cli.topups)
cli.add_command(operators.operator)


def main() -> None:
    """Console-script entry point."""
    cli()
