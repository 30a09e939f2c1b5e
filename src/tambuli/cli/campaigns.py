"""`tambuli campaign` commands: create from a file, launch, stop, list, runs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
import yaml

from tambuli.campaigns import reports
from tambuli.campaigns import service as campaigns
from tambuli.campaigns.models import Campaign, RunStatus
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

MAX_FILE_BYTES = 5_000_000


class _PlainYamlLoader(yaml.SafeLoader):
    """YAML with JSON's scalars: `Yes`, `No`, `on` and dates stay text (YAML 1.1 would turn
    poll choices like `[Yes, No]` into booleans and `at` times into datetimes)."""


_PlainYamlLoader.yaml_implicit_resolvers = {
    first: [
        (tag, pattern)
        for tag, pattern in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PlainYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf")
)


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    """One line: what is wrong and where."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    where = "" if mark is None else f" (line {mark.line + 1}, column {mark.column + 1})"
    return f"{problem}{where}"


def _read_definition(path: Path) -> Any:
    """A campaign definition from a JSON or YAML file (YAML is a superset of JSON)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise click.ClickException(f"{path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        if path.suffix.lower() == ".json":
            return json.loads(data)
        return yaml.load(data, Loader=_PlainYamlLoader)  # noqa: S506 (a safe loader)
    except ValueError as exc:
        raise click.ClickException(f"{path} is not valid JSON: {exc}") from exc
    except yaml.YAMLError as exc:
        raise click.ClickException(
            f"{path} is not valid YAML: {_describe_yaml_error(exc)}"
        ) from exc


def _summary(campaign: Campaign) -> dict[str, Any]:
    return {
        "campaignId": campaign.id,
        "name": campaign.name,
        "kind": campaign.kind.value,
        "state": campaign.state.value,
        "openForSubscriptions": campaign.open_for_subscriptions,
        "steps": len(campaign.rules.steps),
    }


@click.group()
def campaign() -> None:
    """Campaigns: drips, reminders, blasts and SMS polls."""


@campaign.command("create")
@click.option("--org", "org_id", required=True, type=int)
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The campaign definition (.json, .yaml or .yml).",
)
def campaign_create(org_id: int, path: Path) -> None:
    """Create a campaign as a draft; prints {"campaignId": ID}."""
    definition = _read_definition(path)

    async def action(db: Database) -> int:
        created = await campaigns.create_campaign(db, clock, org_id, definition)
        return created.id

    print_json({"campaignId": run_with_database(action)})


@campaign.command("launch")
@click.option("--org", "org_id", required=True, type=int)
@click.option("--campaign", "campaign_id", required=True, type=int)
def campaign_launch(org_id: int, campaign_id: int) -> None:
    """Launch (or relaunch) a campaign; paused runs resume."""
    server_sender = read_settings().server_sender_id

    async def action(db: Database) -> Campaign:
        return await campaigns.launch_campaign(
            db, clock, org_id, campaign_id, server_sender=server_sender
        )

    print_json(_summary(run_with_database(action)))


@campaign.command("stop")
@click.option("--org", "org_id", required=True, type=int)
@click.option("--campaign", "campaign_id", required=True, type=int)
def campaign_stop(org_id: int, campaign_id: int) -> None:
    """Stop a campaign: no step fires until it is launched again."""

    async def action(db: Database) -> Campaign:
        return await campaigns.stop_campaign(db, clock, org_id, campaign_id)

    print_json(_summary(run_with_database(action)))


@campaign.command("list")
@click.option("--org", "org_id", required=True, type=int)
@json_option
def campaign_list(org_id: int, as_json: bool) -> None:
    """The organization's campaigns."""

    async def action(db: Database) -> list[Campaign]:
        return await campaigns.list_campaigns(db, org_id)

    found = [_summary(c) for c in run_with_database(action)]
    if as_json:
        print_json(found)
        return
    columns = ["campaignId", "name", "kind", "state", "openForSubscriptions", "steps"]
    print_table("Campaigns", columns, [[c[k] for k in columns] for c in found])


@campaign.command("runs")
@click.option("--org", "org_id", required=True, type=int)
@click.option("--campaign", "campaign_id", required=True, type=int)
@click.option("--status", type=click.Choice([s.value for s in RunStatus]), default=None)
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@json_option
def campaign_runs(
    org_id: int, campaign_id: int, status: str | None, limit: int, as_json: bool
) -> None:
    """Runs of a campaign with their progress (oldest first)."""

    async def action(db: Database) -> tuple[Campaign, list[Any]]:
        return await reports.list_runs(db, org_id, campaign_id, 0, limit, status)

    found, runs = run_with_database(action)
    total = len(found.rules.steps)
    rows = [
        {
            "runId": r.id,
            "contactId": r.contact_id,
            "status": r.status.value,
            "step": f"{min(r.step_index + 1, total)}/{total}",
            "stepsSent": r.steps_sent,
            "nextStepAt": (
                format_utc_timestamp(r.step_due_at)
                if r.is_active and r.step_due_at and not r.awaiting_reply
                else None
            ),
            "lastError": r.last_error,
        }
        for r in runs
    ]
    if as_json:
        print_json(rows)
        return
    columns = ["runId", "contactId", "status", "step", "stepsSent", "nextStepAt", "lastError"]
    print_table("Runs", columns, [[row[k] or "" for k in columns] for row in rows])
