"""Operator pages (users flagged as operators only; 404 for anyone else): organizations and
their balances, crediting a balance, creating an organization, the price list and the inbound
SMS no organization could be given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromQuery

from tambuli.billing import service as billing
from tambuli.billing.models import check_amount, format_usd, parse_usd
from tambuli.errors import TambuliError
from tambuli.messaging import inbound as inbound_sms
from tambuli.messaging import pricing
from tambuli.messaging.models import check_sender_id
from tambuli.organizations import service as organizations
from tambuli.web.access import require_operator
from tambuli.web.context import console_of
from tambuli.web.rendering import render_page

# Organizations per page of the operator's list, and unmatched inbound SMS shown.
ORGS_PER_PAGE = 50
UNMATCHED_SHOWN = 100


@dataclass(frozen=True)
class OrgLine:
    """One organization as the operator's list shows it."""

    id: int
    name: str
    balance_micro: int


async def _orgs_page(
    request: Request[Any, Any, Any],
    after: int = 0,
    status_code: int = 200,
    **shown: Any,
) -> Response[Any]:
    console = console_of(request)
    found = await organizations.list_organizations(console.db, ORGS_PER_PAGE + 1, after)
    shown_orgs = found[:ORGS_PER_PAGE]
    # One read for the page's balances, not one per organization.
    balances = await billing.list_balances(console.db, [o.id for o in shown_orgs])
    lines = [
        OrgLine(o.id, o.name, balances[o.id].balance_micro) for o in shown_orgs if o.id in balances
    ]
    values: dict[str, Any] = {
        "credit_error": "",
        "credited": None,
        "create_error": "",
        "created": None,
        "form": {},
    } | shown
    return await render_page(
        request,
        "operator_orgs.html",
        status_code=status_code,
        orgs=lines,
        after=after,
        next_after=lines[-1].id if len(found) > ORGS_PER_PAGE else None,
        exact=format_usd,
        **values,
    )


@get("/operator/orgs", include_in_schema=False)
async def operator_orgs_page(
    request: Request[Any, Any, Any], after: FromQuery[int] = 0
) -> Response[Any]:
    """Every organization with its balance, a page at a time."""
    await require_operator(request)
    return await _orgs_page(request, after)


@post("/operator/orgs/credit", include_in_schema=False, status_code=200)
async def credit_organization(request: Request[Any, Any, Any]) -> Response[Any]:
    """Add money to an organization's balance: exact decimal USD, as the CLI reads it."""
    await require_operator(request)
    console = console_of(request)
    sent = await request.form()
    form = {k: str(sent.get(k) or "") for k in ("org_id", "amount", "reason")}
    try:
        org_id = int(form["org_id"]) if form["org_id"].strip().isdigit() else 0
        await organizations.get_organization(console.db, org_id)
        amount = parse_usd(form["amount"].strip())
        check_amount(amount)
        reason = form["reason"].strip()[:200] or "manual credit"
        balance = await billing.credit_balance(
            console.db, console.clock, org_id, amount, reason, "console"
        )
    except TambuliError as refused:
        return await _orgs_page(request, status_code=400, credit_error=refused.message, form=form)
    return await _orgs_page(request, credited=(org_id, amount, balance))


@post("/operator/orgs", include_in_schema=False, status_code=200)
async def create_organization(request: Request[Any, Any, Any]) -> Response[Any]:
    """Create an organization; its first API token is shown this once."""
    await require_operator(request)
    console = console_of(request)
    sent = await request.form()
    form = {k: str(sent.get(k) or "") for k in ("name", "sender_id")}
    try:
        sender = form["sender_id"].strip()
        created = await organizations.create_organization(
            console.db,
            console.clock,
            form["name"],
            default_sender_id=check_sender_id(sender) if sender else "",
        )
    except TambuliError as refused:
        return await _orgs_page(request, status_code=400, create_error=refused.message, form=form)
    return await _orgs_page(request, created=created)


@get("/operator/prices", include_in_schema=False)
async def prices_page(request: Request[Any, Any, Any]) -> Response[Any]:
    """The price per SMS part by country and prefix."""
    await require_operator(request)
    return await _prices_page(request)


async def _prices_page(
    request: Request[Any, Any, Any], status_code: int = 200, error: str = "", **shown: Any
) -> Response[Any]:
    console = console_of(request)
    return await render_page(
        request,
        "operator_prices.html",
        status_code=status_code,
        prices=await pricing.list_prices(console.db),
        exact=format_usd,
        error=error,
        form=shown.get("form", {}),
        saved=shown.get("saved"),
    )


@post("/operator/prices", include_in_schema=False, status_code=200)
async def set_price(request: Request[Any, Any, Any]) -> Response[Any]:
    """Set the price per part for a country (and optional prefix)."""
    await require_operator(request)
    console = console_of(request)
    sent = await request.form()
    form = {k: str(sent.get(k) or "") for k in ("country", "prefix", "price")}
    try:
        price = parse_usd(form["price"].strip())
        saved = await pricing.set_price(
            console.db, console.clock, form["country"], form["prefix"], price
        )
    except TambuliError as refused:
        return await _prices_page(request, status_code=400, error=refused.message, form=form)
    return await _prices_page(request, saved=saved)


@get("/operator/inbound", include_in_schema=False)
async def unmatched_inbound_page(request: Request[Any, Any, Any]) -> Response[Any]:
    """The newest inbound SMS that no single organization could be given."""
    await require_operator(request)
    console = console_of(request)
    return await render_page(
        request,
        "operator_inbound.html",
        unmatched=await inbound_sms.list_unmatched_inbound(console.db, UNMATCHED_SHOWN),
        shown_at_most=UNMATCHED_SHOWN,
    )
