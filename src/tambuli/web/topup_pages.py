"""Top-ups: send one (the operator and the amount chosen are shown before anything is
charged), the list, and each top-up with its pushes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from tambuli.contacts import phones
from tambuli.contacts.models import parse_id
from tambuli.errors import InvalidField, TambuliError
from tambuli.organizations.models import Role
from tambuli.topups import listing
from tambuli.topups.listing import TopupFilter
from tambuli.topups.models import StoredTopup, TopupStatus
from tambuli.topups.planning import TopupPlan
from tambuli.topups.service import TopupRequest, request_topup
from tambuli.topups.views import amount_number
from tambuli.web.access import Member, require_member
from tambuli.web.context import console_of
from tambuli.web.outbound import sending_runtime_of
from tambuli.web.rendering import render_page
from tambuli.web.send_pages import FRAGMENT_HEADER
from tambuli.webhooks import service as webhooks

PAGE_SIZE = 50
REFRESH_SECONDS = 3


@dataclass(frozen=True)
class TopupForm:
    """The top-up form as typed."""

    kind: str = "number"
    number: str = ""
    contact_id: str = ""
    max_amount: str = ""
    desired_amount: str = ""


def describe_plan(plan: TopupPlan) -> dict[str, Any]:
    """What a plan sends and costs, in words a page shows."""
    operator = plan.operator
    return {
        "operator": operator.name,
        "country": operator.country,
        "amount": f"{amount_number(plan.amount_minor, operator.minor_digits):g} "
        f"{operator.currency}",
        "received": (
            f"{amount_number(plan.received_minor, operator.minor_digits):g} "
            f"{plan.received_currency or operator.currency}"
        ),
        "price_micro": plan.price_micro,
    }


def describe_amount(topup: StoredTopup) -> str:
    """The amount a top-up sends, with its currency."""
    return f"{amount_number(topup.amount_minor, topup.minor_digits):g} {topup.currency}"


async def _read_form(request: Request[Any, Any, Any]) -> TopupForm:
    form = await request.form()
    values = {key: str(value).strip() for key, value in form.items() if isinstance(value, str)}
    return TopupForm(
        kind="contact" if values.get("kind") == "contact" else "number",
        number=values.get("number", ""),
        contact_id=values.get("contact_id", ""),
        max_amount=values.get("max_amount", ""),
        desired_amount=values.get("desired_amount", ""),
    )


def _request(org_id: int, form: TopupForm, *, test: bool) -> TopupRequest:
    contact_id, phone = None, None
    if form.kind == "contact":
        contact_id = parse_id(form.contact_id, "contact")
    elif form.number:
        phone = phones.normalise_full_number(form.number)
    else:
        raise InvalidField("Give the number to top up", {"field": "number"})
    if not form.max_amount:
        raise InvalidField("Give the largest amount to send", {"field": "maxAmount"})
    return TopupRequest(
        org_id=org_id,
        contact_id=contact_id,
        phone=phone,
        max_amount=form.max_amount,
        desired_amount=form.desired_amount or None,
        test=test,
        run_async=not test,
    )


async def _topups_page(
    request: Request[Any, Any, Any],
    member: Member,
    after: str = "",
    form: TopupForm | None = None,
    plan: dict[str, Any] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response[Any]:
    console = console_of(request)
    found = await listing.list_topups_after(
        console.db, member.org_id, TopupFilter(), after or None, PAGE_SIZE
    )
    in_flight = any(not t.done for t in found.topups)
    template = "topups_rows.html" if request.headers.get(FRAGMENT_HEADER) else "topups.html"
    return await render_page(
        request,
        template,
        status_code=status_code,
        member=member,
        topups=[(t, describe_amount(t)) for t in found.topups],
        next_after=found.next_after or "",
        first_page=not after,
        in_flight=in_flight,
        refresh_seconds=REFRESH_SECONDS,
        form=form or TopupForm(),
        plan=plan,
        error=error,
        can_send=member.may(Role.EDITOR),
    )


@get("/orgs/{org_id:int}/topups", include_in_schema=False)
async def topups_page(
    request: Request[Any, Any, Any], org_id: FromPath[int], after: FromQuery[str] = ""
) -> Response[Any]:
    """The form (for editors) and the top-ups, newest first."""
    member = await require_member(request, org_id, Role.VIEWER)
    return await _topups_page(request, member, after)


@post("/orgs/{org_id:int}/topups/preview", include_in_schema=False, status_code=200)
async def preview_topup(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """The operator, amount and price the top-up would have; nothing is charged."""
    member = await require_member(request, org_id, Role.EDITOR)
    form = await _read_form(request)
    runtime = sending_runtime_of(request)
    try:
        answer = await request_topup(runtime.topups, _request(member.org_id, form, test=True))
    except TambuliError as refused:
        return await _topups_page(
            request, member, form=form, error=refused.message, status_code=400
        )
    plan = describe_plan(answer.plan) | {"recipient": answer.recipient}
    return await _topups_page(request, member, form=form, plan=plan)


@post("/orgs/{org_id:int}/topups", include_in_schema=False, status_code=200)
async def send_topup(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """Send the top-up (a worker carries it out); a refusal is shown on the form."""
    member = await require_member(request, org_id, Role.EDITOR)
    form = await _read_form(request)
    runtime = sending_runtime_of(request)
    try:
        runtime.refuse_unless_delivering()
        answer = await request_topup(runtime.topups, _request(member.org_id, form, test=False))
    except TambuliError as refused:
        return await _topups_page(
            request, member, form=form, error=refused.message, status_code=400
        )
    assert answer.topup is not None
    # As the API: a queued top-up wakes the top-up workers, a finished one the result pushes.
    if not answer.finished:
        runtime.wake_topups()
    else:
        runtime.wake_events()
    return Redirect(f"/orgs/{org_id}/topups/{answer.topup.topup_id}", status_code=303)


@get("/orgs/{org_id:int}/topups/{topup_id:str}", include_in_schema=False)
async def topup_page(
    request: Request[Any, Any, Any], org_id: FromPath[int], topup_id: FromPath[str]
) -> Response[Any]:
    """One top-up: what was sent, to whom, its attempts and its pushes."""
    member = await require_member(request, org_id, Role.VIEWER)
    console = console_of(request)
    topup = await listing.get_topup(console.db, member.org_id, topup_id)
    pushes = await webhooks.list_pushes_about(console.db, member.org_id, topup.topup_id)
    template = "topup_detail.html" if request.headers.get(FRAGMENT_HEADER) else "topup.html"
    return await render_page(
        request,
        template,
        member=member,
        topup=topup,
        amount=describe_amount(topup),
        succeeded=topup.status is TopupStatus.SUCCEEDED,
        pushes=pushes,
        in_flight=not topup.done,
        refresh_seconds=REFRESH_SECONDS,
    )


ROUTES = [topups_page, preview_topup, send_topup, topup_page]
