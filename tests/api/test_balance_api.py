"""GET /v1/organizations/{orgId}/balance.json over HTTP, validated against the reference spec."""

from __future__ import annotations

import re

import pytest

from tambuli.billing import reservations as funds
from tambuli.billing import service as billing
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tests.api.conftest import OrgApi
from tests.conftest import OrgFactory


@pytest.mark.parametrize(
    ("credit_micro", "balance", "human"),
    [
        (3_141_592, 3.141592, "3.14"),
        (9_999, 0.009999, "0.00"),
        (10_000, 0.01, "0.01"),
        (1_999_999, 1.999999, "1.99"),
        (2_500_000, 2.5, "2.50"),
        (123_456_789_012, 123456.789012, "123456.78"),
    ],
)
async def test_the_balance_is_shown_in_dollars_micro_dollars_and_cents_rounded_down(
    api: OrgApi, db: Database, clock: FakeClock, credit_micro: int, balance: float, human: str
) -> None:
    await billing.credit_balance(db, clock, api.org_id, credit_micro, "test funds")
    body = (await api.balance()).json()
    assert body["balanceMicro"] == credit_micro
    assert isinstance(body["balanceMicro"], int)
    assert body["balance"] == balance
    assert isinstance(body["balance"], float)
    assert body["balanceHuman"] == human


async def test_a_new_organization_has_a_zero_balance(api: OrgApi) -> None:
    response = await api.balance()
    assert response.status_code == 200
    body = response.json()
    assert body["balance"] == 0
    assert body["balanceMicro"] == 0
    assert body["balanceHuman"] == "0.00"


async def test_balance_human_always_has_exactly_two_decimals(
    api: OrgApi, db: Database, clock: FakeClock
) -> None:
    for credit in (1, 100_000, 1_000_000, 5_123_456):
        await billing.credit_balance(db, clock, api.org_id, credit, "test funds")
        human = (await api.balance()).json()["balanceHuman"]
        assert re.fullmatch(r"\d+\.\d\d", human), human


async def test_the_balance_follows_credits_and_reservations(
    api: OrgApi, db: Database, clock: FakeClock
) -> None:
    await billing.credit_balance(db, clock, api.org_id, 5_000_000, "test funds")
    async with db.write() as conn:
        await funds.reserve_many_within(conn, clock, api.org_id, [1_234_567], "an SMS", [""])
    body = (await api.balance()).json()
    assert body["balanceMicro"] == 3_765_433
    assert body["balanceHuman"] == "3.76"


async def test_auto_recharge_is_off_with_zero_threshold_and_amount_by_default(
    api: OrgApi,
) -> None:
    body = (await api.balance()).json()
    assert body["autoRecharge"] is False
    assert body["autoRechargeThreshold"] == 0
    assert body["autoRechargeAmount"] == 0


async def test_auto_recharge_settings_are_shown_in_dollars(api: OrgApi, db: Database) -> None:
    await billing.set_auto_recharge(db, api.org_id, 5_000_000, 20_500_000)
    body = (await api.balance()).json()
    assert body["autoRecharge"] is True
    assert body["autoRechargeThreshold"] == 5.0
    assert body["autoRechargeAmount"] == 20.5


async def test_turning_auto_recharge_off_shows_zero_threshold_and_amount(
    api: OrgApi, db: Database
) -> None:
    await billing.set_auto_recharge(db, api.org_id, 1_000_000, 2_000_000)
    await billing.turn_off_auto_recharge(db, api.org_id)
    body = (await api.balance()).json()
    assert (body["autoRecharge"], body["autoRechargeThreshold"], body["autoRechargeAmount"]) == (
        False,
        0,
        0,
    )


async def test_each_organization_sees_its_own_balance(api: OrgApi, make_org: OrgFactory) -> None:
    other = await make_org(balance_micro=7_000_000)
    assert (await api.balance()).json()["balanceMicro"] == 0
    response = await api.call(
        "GET",
        f"/v1/organizations/{other.org_id}/balance.json",
        "/v1/organizations/{orgId}/balance.json",
        headers={"Authorization": f"Token {other.token}"},
    )
    assert response.json()["balanceMicro"] == 7_000_000
