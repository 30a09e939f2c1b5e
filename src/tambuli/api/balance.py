"""GET /v1/organizations/{orgId}/balance.json, and the legacy
GET /api/v1/organizations/{id}/available-balance."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get
from litestar.params import FromPath

from tambuli.api.auth import authorize_org
from tambuli.api.runtime import runtime_of
from tambuli.billing import service as billing
from tambuli.billing.models import (
    format_usd_cents_down,
    format_usd_exact_or_cents,
    usd_number,
)


class BalanceBody(msgspec.Struct, rename="camel"):
    """The organization's balance, as engageSPARK shows it."""

    balance: float
    balance_micro: int
    balance_human: str
    auto_recharge: bool
    auto_recharge_threshold: float
    auto_recharge_amount: float


@get(
    "/v1/organizations/{org_id:str}/balance.json",
    operation_id="getOrgBalance",
    tags=["Balance"],
    summary="Get organization balance",
)
async def get_org_balance(request: Request[Any, Any, Any], org_id: FromPath[str]) -> BalanceBody:
    """The current balance of the organization."""
    principal = await authorize_org(request, org_id)
    balance = await billing.get_balance(runtime_of(request).db, principal.org_id)
    return BalanceBody(
        balance=usd_number(balance.balance_micro),
        balance_micro=balance.balance_micro,
        balance_human=format_usd_cents_down(balance.balance_micro),
        auto_recharge=balance.auto_recharge,
        auto_recharge_threshold=usd_number(balance.auto_recharge_threshold_micro),
        auto_recharge_amount=usd_number(balance.auto_recharge_amount_micro),
    )


class AvailableBalanceBody(msgspec.Struct):
    """The legacy balance answer: USD as a decimal string, as published clients read it."""

    balance: str


@get(
    "/api/v1/organizations/{org_id:str}/available-balance",
    operation_id="legacyGetAvailableBalance",
    tags=["Balance"],
    summary="Get organization balance (legacy)",
)
async def get_available_balance(
    request: Request[Any, Any, Any], org_id: FromPath[str]
) -> AvailableBalanceBody:
    """What the organization can spend now, in USD (two decimals, six below a cent)."""
    principal = await authorize_org(request, org_id)
    balance = await billing.get_balance(runtime_of(request).db, principal.org_id)
    return AvailableBalanceBody(balance=format_usd_exact_or_cents(balance.balance_micro))
