"""Accepting a top-up: resolve the number, plan it, reserve the price, and try it (or queue it)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import PhoneNumber
from tambuli.db.engine import Database
from tambuli.errors import DuplicateTopup, InvalidPushUrl, UnknownContact
from tambuli.texts import check_client_text
from tambuli.topups import store
from tambuli.topups.attempts import carry_out_sync_attempt
from tambuli.topups.desk import TopupDesk
from tambuli.topups.models import StoredTopup
from tambuli.topups.planning import TopupDraft, TopupPlan, check_amount_shape, plan_topup
from tambuli.webhooks.address_guard import check_webhook_url


@dataclass(frozen=True)
class TopupRequest:
    """A top-up request, checked in shape; the rules are applied by request_topup."""

    org_id: int
    # Exactly one of the two.
    contact_id: int | None
    phone: PhoneNumber | None
    max_amount: object
    desired_amount: object | None = None
    client_ref: str = ""
    client_dedup: str = ""
    # Legacy /v1/airtime-topup: where this top-up's final result is pushed.
    results_url: str = ""
    test: bool = False
    # Answer at once and let a worker send it, instead of trying it first.
    run_async: bool = False


@dataclass(frozen=True)
class TopupAnswer:
    """What a request led to: the top-up (None in test mode), its plan, and whether it is final."""

    topup: StoredTopup | None
    plan: TopupPlan
    # False when the answer was given before the top-up finished (async, retrying, too slow).
    finished: bool
    # The number, E.164 digits.
    recipient: str


def _check_request(request: TopupRequest) -> tuple[str, str]:
    check_client_text("clientDedup", request.client_dedup)
    check_client_text("clientRef", request.client_ref, limit=1000)
    if request.results_url:
        try:
            check_webhook_url(request.results_url)
        except ValueError as exc:
            raise InvalidPushUrl(f"resultsUrl: {exc}", {"field": "resultsUrl"}) from exc
    max_amount = check_amount_shape("maxAmount", request.max_amount)
    desired = request.desired_amount
    desired_amount = "" if desired is None else check_amount_shape("desiredAmount", desired)
    return max_amount, desired_amount


async def _resolve_recipient(db: Database, request: TopupRequest) -> tuple[PhoneNumber, int | None]:
    if request.contact_id is not None:
        async with db.read() as conn:
            contact = await contacts.get_contact_within(conn, request.org_id, request.contact_id)
        if contact is None:
            raise UnknownContact(f"No contact with ID {request.contact_id} in this organization")
        return phones.normalise_full_number(f"+{contact.phone}"), contact.id
    assert request.phone is not None
    # A number that belongs to a contact shows the newest such contact's names in lists;
    # top-ups never create contacts. One statement: SQLite's shared read connection serves it.
    async with db.read_single() as conn:
        found = await contacts.find_contact_ids_with_phone_within(
            conn, request.org_id, request.phone.digits
        )
    return request.phone, found[-1] if found else None


async def _find_duplicate(db: Database, org_id: int, client_dedup: str) -> StoredTopup | None:
    if not client_dedup:
        return None
    async with db.read() as conn:
        return await store.select_topup_by_dedup(conn, org_id, client_dedup)


async def request_topup(desk: TopupDesk, request: TopupRequest) -> TopupAnswer:
    """Plan a top-up and, unless it is a test, reserve its price and send or queue it.

    DuplicateTopup when the clientDedup was used before and InsufficientFunds when the
    balance does not cover the price; in either case nothing is stored or charged. A
    synchronous request tries the first attempt itself, waiting up to `desk.sync_seconds`.
    """
    max_amount, desired_amount = _check_request(request)
    phone, contact_id = await _resolve_recipient(desk.db, request)
    catalogue = await desk.catalogue.get()
    plan = plan_topup(catalogue, phone, max_amount, desired_amount)
    if request.test:
        return TopupAnswer(None, plan, finished=True, recipient=phone.digits)
    duplicate = await _find_duplicate(desk.db, request.org_id, request.client_dedup)
    if duplicate is not None:
        raise DuplicateTopup(duplicate)
    draft = TopupDraft(
        org_id=request.org_id,
        contact_id=contact_id,
        recipient=phone.digits,
        plan=plan,
        client_ref=request.client_ref,
        client_dedup=request.client_dedup,
        results_url=request.results_url,
        claim=not request.run_async,
    )
    topup = await desk.intake.submit(draft)
    if request.run_async:
        return TopupAnswer(topup, plan, finished=False, recipient=phone.digits)
    # The claim's lease is the top-up's due time until an outcome is recorded.
    assert topup.next_attempt_at is not None
    task = asyncio.create_task(carry_out_sync_attempt(desk, topup, topup.next_attempt_at))
    desk.running.add(task)
    task.add_done_callback(desk.running.discard)
    done, _ = await asyncio.wait({task}, timeout=desk.sync_seconds)
    if not done:
        return TopupAnswer(topup, plan, finished=False, recipient=phone.digits)
    final = task.result()
    return TopupAnswer(final, plan, finished=final.done, recipient=phone.digits)


async def count_open_topups(db: Database, now: datetime) -> dict[str, int]:
    """Top-ups waiting for an attempt or its outcome, by state ("due", "later", "claimed")."""
    async with db.read() as conn:
        return await store.count_open_topups(conn, now)
