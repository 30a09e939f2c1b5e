"""Balance history: the organization's ledger a page at a time, all of it as CSV, and the
auto-recharge setting (owners change it)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from tambuli.billing import service as billing
from tambuli.billing.models import format_usd, parse_usd
from tambuli.clock import format_utc_timestamp
from tambuli.errors import TambuliError
from tambuli.organizations.models import Role
from tambuli.web.access import Member, require_member
from tambuli.web.context import ConsoleContext, console_of
from tambuli.web.rendering import render_page

# Entries on one page, and read per query while writing the CSV.
PAGE_SIZE = 50
CSV_BATCH = 1000
CSV_COLUMNS = [
    "id",
    "createdAt",
    "kind",
    "amountMicro",
    "amount",
    "balanceAfterMicro",
    "reason",
    "reference",
]


async def _ledger_page(
    request: Request[Any, Any, Any],
    member: Member,
    before: int | None = None,
    status_code: int = 200,
    error: str = "",
    form: dict[str, str] | None = None,
) -> Response[Any]:
    console = console_of(request)
    balance = await billing.get_balance(console.db, member.org_id)
    # One more than shown tells whether an older page exists without counting rows.
    entries = await billing.list_ledger_entries(console.db, member.org_id, PAGE_SIZE + 1, before)
    older = entries[PAGE_SIZE - 1].id if len(entries) > PAGE_SIZE else None
    shown_form = form or {
        "threshold": format_usd(balance.auto_recharge_threshold_micro)
        if balance.auto_recharge
        else "",
        "amount": format_usd(balance.auto_recharge_amount_micro) if balance.auto_recharge else "",
    }
    return await render_page(
        request,
        "ledger.html",
        status_code=status_code,
        member=member,
        balance=balance,
        entries=entries[:PAGE_SIZE],
        older=older,
        paged=before is not None,
        exact=format_usd,
        can_change=member.may(Role.OWNER),
        error=error,
        form=shown_form,
    )


@get("/orgs/{org_id:int}/balance-history", include_in_schema=False)
async def ledger_page(
    request: Request[Any, Any, Any], org_id: FromPath[int], before: FromQuery[int | None] = None
) -> Response[Any]:
    """The newest ledger entries (or those before entry `before`), newest first."""
    member = await require_member(request, org_id, Role.VIEWER)
    return await _ledger_page(request, member, before)


@post("/orgs/{org_id:int}/balance-history/auto-recharge", include_in_schema=False, status_code=200)
async def change_auto_recharge(
    request: Request[Any, Any, Any], org_id: FromPath[int]
) -> Response[Any]:
    """Owners only: below the threshold, credit the amount automatically; or turn it off."""
    member = await require_member(request, org_id, Role.OWNER)
    console = console_of(request)
    sent = await request.form()
    form = {k: str(sent.get(k) or "") for k in ("threshold", "amount")}
    try:
        if sent.get("off"):
            await billing.turn_off_auto_recharge(console.db, org_id)
        else:
            threshold = parse_usd(form["threshold"].strip())
            amount = parse_usd(form["amount"].strip())
            await billing.set_auto_recharge(console.db, org_id, threshold, amount)
    except TambuliError as refused:
        return await _ledger_page(
            request, member, status_code=400, error=refused.message, form=form
        )
    return await _ledger_page(request, member)


def _csv_lines(rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def _as_text(value: str) -> str:
    # A cell starting like a formula would run as one in a spreadsheet.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def _ledger_csv(console: ConsoleContext, org_id: int) -> AsyncIterator[bytes]:
    yield _csv_lines([list(CSV_COLUMNS)])
    before: int | None = None
    while True:
        batch = await billing.list_ledger_entries(console.db, org_id, CSV_BATCH, before)
        # One chunk a batch: a chunk a line made the stack's per-send cost the export's.
        yield _csv_lines(
            [
                [
                    e.id,
                    format_utc_timestamp(e.created_at),
                    e.kind.value,
                    e.amount_micro,
                    format_usd(e.amount_micro),
                    e.balance_after_micro,
                    _as_text(e.reason),
                    _as_text(e.reference),
                ]
                for e in batch
            ]
        )
        if len(batch) < CSV_BATCH:
            return
        before = batch[-1].id


@get("/orgs/{org_id:int}/balance-history.csv", include_in_schema=False)
async def ledger_csv(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Stream:
    """Every ledger entry as CSV, newest first, read in batches so any length streams."""
    await require_member(request, org_id, Role.VIEWER)
    console = console_of(request)
    await billing.get_balance(console.db, org_id)
    return Stream(
        _ledger_csv(console, org_id),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="tambuli-ledger-{org_id}.csv"',
            "Cache-Control": "no-store",
        },
    )
