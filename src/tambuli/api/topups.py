"""POST …/topup/, GET …/topups/ and …/topups/{id}/, and the legacy POST /v1/airtime-topup."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from tambuli.api.auth import authorize_org, authorize_token
from tambuli.api.errors import render_error, status_for
from tambuli.api.pagination import (
    parse_failed_filter,
    parse_list_int,
    parse_list_time,
    parse_search,
)
from tambuli.api.runtime import runtime_of
from tambuli.billing.models import usd_number
from tambuli.contacts import phones
from tambuli.contacts.models import PhoneNumber, parse_id, parse_optional_id
from tambuli.errors import (
    AmbiguousPhoneNumber,
    DuplicateTopup,
    TambuliError,
    TopupRefused,
    Unauthorized,
)
from tambuli.organizations.models import parse_authorization_header
from tambuli.topups import listing
from tambuli.topups.models import StoredTopup, TopupStatus
from tambuli.topups.planning import TopupPlan
from tambuli.topups.service import TopupAnswer, TopupRequest, request_topup
from tambuli.topups.store import TopupFilter
from tambuli.topups.views import (
    TopupRecordBody,
    amount_number,
    render_legacy_result,
    render_topup_record,
)

TOPUP_PATH = "/v1/organizations/{org_id:str}/topup"
TOPUPS_PATH = "/v1/organizations/{org_id:str}/topups"
ONE_TOPUP_PATH = "/v1/organizations/{org_id:str}/topups/{topup_id:str}"


class SendTopupBody(msgspec.Struct, rename="camel", kw_only=True):
    """sendOrgTopup: exactly one of contactId, fullPhoneNumber, or phoneNumber + country."""

    max_amount: int | str
    desired_amount: int | str | None = None
    client_ref: str | None = None
    # Our extension: a key that makes a retried request safe (as on SMS).
    client_dedup: str | None = None
    async_: bool | None = msgspec.field(name="async", default=None)
    test: bool | None = None
    contact_id: int | str | None = None
    full_phone_number: str | None = None
    phone_number: str | None = None
    phone_number_country: str | None = None


class TopupSentBody(msgspec.Struct, rename="camel", omit_defaults=True):
    """The answer to a top-up request (200 done, 202 queued), or the body of a 409."""

    id: str
    currency: str
    amount_sent: float
    price: float
    queued: bool
    operator: str = ""
    full_phone_number: str = ""
    status: str = ""
    test: bool = False
    dedup_topup_id: str = ""
    error: str = ""
    error_code: str = ""


class TopupListBody(msgspec.Struct, rename="camel"):
    """A list of top-ups, newest first."""

    topups: list[TopupRecordBody]
    paged: bool
    has_next_page: bool | msgspec.UnsetType = msgspec.UNSET
    next_page: str | msgspec.UnsetType = msgspec.UNSET


class LegacyTopupBody(msgspec.Struct, rename="camel", kw_only=True):
    """The legacy POST /v1/airtime-topup: the organization and a full number in the body."""

    organization_id: int | str
    phone_number: str
    max_amount: int | str
    desired_amount: int | str | None = None
    client_ref: str | None = None
    client_dedup: str | None = None
    results_url: str | None = None


def _render_planned(plan: TopupPlan, phone: str) -> TopupSentBody:
    operator = plan.operator
    return TopupSentBody(
        id="",
        currency=operator.currency,
        amount_sent=amount_number(plan.amount_minor, operator.minor_digits),
        price=usd_number(plan.price_micro),
        queued=False,
        operator=operator.name,
        full_phone_number=phone,
        test=True,
    )


def _render_sent(topup: StoredTopup, queued: bool) -> TopupSentBody:
    return TopupSentBody(
        id=topup.topup_id,
        currency=topup.currency,
        amount_sent=amount_number(topup.amount_minor, topup.minor_digits),
        price=usd_number(topup.price_micro),
        queued=queued,
        operator=topup.operator_name,
        full_phone_number=topup.recipient,
        status=topup.status.value,
    )


def _phone(body: SendTopupBody) -> PhoneNumber | None:
    return phones.normalise_optional(
        body.full_phone_number, body.phone_number, body.phone_number_country
    )


# What a published Node client sends for an amount its caller left out.
_ABSENT_AMOUNTS = frozenset({"", "null", "undefined"})


def _optional_amount(value: int | str | None) -> int | str | None:
    if isinstance(value, str) and value.strip().lower() in _ABSENT_AMOUNTS:
        return None
    return value


def _answer(answer: TopupAnswer) -> Response[Any]:
    topup = answer.topup
    if topup is None:
        return _json(_render_planned(answer.plan, answer.recipient), 200)
    if topup.status is TopupStatus.FAILED:
        raise TopupRefused(
            f"The top-up failed: {topup.error}", {"id": topup.topup_id, "error": topup.error}
        )
    if answer.finished:
        return _json(_render_sent(topup, queued=False), 200)
    return _json(_render_sent(topup, queued=True), 202)


def _json(body: Any, status: int) -> Response[Any]:
    return Response(body, status_code=status, media_type=MediaType.JSON)


def _duplicate(exc: DuplicateTopup) -> Response[Any]:
    assert isinstance(exc.original, StoredTopup)
    answer = _render_sent(exc.original, queued=not exc.original.done)
    answer.dedup_topup_id = exc.original.topup_id
    answer.error = exc.message
    answer.error_code = exc.error_code
    return _json(answer, 409)


@post(TOPUP_PATH, operation_id="sendOrgTopup", tags=["Top-Up"], status_code=200)
async def send_topup(
    request: Request[Any, Any, Any], org_id: FromPath[str], data: JSONBody[SendTopupBody]
) -> Response[TopupSentBody]:
    """Send airtime: the largest amount on sale up to maxAmount (see desiredAmount)."""
    principal = await authorize_org(request, org_id)
    runtime_of(request).refuse_unless_delivering()
    contact_id = parse_optional_id(data.contact_id, "contactId")
    phone = _phone(data)
    if (phone is None) == (contact_id is None):
        raise AmbiguousPhoneNumber(
            'Exactly one of "contactId", "fullPhoneNumber", or "phoneNumber" with'
            ' "phoneNumberCountry" must be set'
        )
    runtime = runtime_of(request)
    wanted = TopupRequest(
        org_id=principal.org_id,
        contact_id=contact_id,
        phone=phone,
        max_amount=data.max_amount,
        desired_amount=_optional_amount(data.desired_amount),
        client_ref=data.client_ref or "",
        client_dedup=data.client_dedup or "",
        test=bool(data.test),
        run_async=bool(data.async_),
    )
    try:
        answer = await request_topup(runtime.topups, wanted)
    except DuplicateTopup as exc:
        return _duplicate(exc)
    if answer.topup is not None and not answer.finished:
        runtime.wake_topups()
    elif answer.topup is not None:
        runtime.wake_events()
    return _answer(answer)


def _filter(
    failed: str | None, search: str | None, start: str | None, end: str | None
) -> TopupFilter:
    return TopupFilter(
        failed=parse_failed_filter(failed),
        search=parse_search(search),
        start=parse_list_time("startDate", start),
        end=parse_list_time("endDate", end),
    )


@get(TOPUPS_PATH, operation_id="getOrgTopupsList", tags=["Top-Up"])
async def list_topups(
    request: Request[Any, Any, Any],
    org_id: FromPath[str],
    after: FromQuery[str | None] = None,
    limit: FromQuery[str | None] = None,
    page: FromQuery[str | None] = None,
    size: FromQuery[str | None] = None,
    failed: FromQuery[str | None] = None,
    search: FromQuery[str | None] = None,
    start_date: Annotated[str | None, QueryParameter(name="startDate")] = None,
    end_date: Annotated[str | None, QueryParameter(name="endDate")] = None,
) -> TopupListBody:
    """Top-ups of the organization, newest first: by cursor (after/limit) or page (page/size)."""
    principal = await authorize_org(request, org_id)
    wanted = _filter(failed, search, start_date, end_date)
    db = runtime_of(request).db
    if page is not None or size is not None:
        found = await listing.list_topups_page(
            db,
            principal.org_id,
            wanted,
            parse_list_int("page", page, 1),
            parse_list_int("size", size, listing.MAX_PAGE_SIZE, listing.MAX_PAGE_SIZE),
        )
        return TopupListBody(topups=[render_topup_record(t) for t in found], paged=True)
    result = await listing.list_topups_after(
        db,
        principal.org_id,
        wanted,
        after,
        parse_list_int("limit", limit, listing.MAX_CURSOR_LIMIT, listing.MAX_CURSOR_LIMIT),
    )
    return TopupListBody(
        topups=[render_topup_record(t) for t in result.topups],
        paged=False,
        has_next_page=result.next_after is not None,
        next_page=result.next_after or "",
    )


@get(ONE_TOPUP_PATH, operation_id="getOrgTopups", tags=["Top-Up"])
async def get_topup(
    request: Request[Any, Any, Any], org_id: FromPath[str], topup_id: FromPath[str]
) -> TopupRecordBody:
    """One top-up with its result."""
    principal = await authorize_org(request, org_id)
    found = await listing.get_topup(runtime_of(request).db, principal.org_id, topup_id)
    return render_topup_record(found)


def _legacy_error(error: TambuliError) -> Response[Any]:
    plain = render_error(error)
    body = dict(plain.content) if isinstance(plain.content, dict) else {}
    body.update({"status": "Failed", "errorMessage": error.message})
    return _json(body, status_for(error))


@post("/v1/airtime-topup", operation_id="legacyAirtimeTopup", tags=["Top-Up"], status_code=200)
async def send_legacy_topup(
    request: Request[Any, Any, Any], data: JSONBody[LegacyTopupBody]
) -> Response[dict[str, Any]]:
    """Legacy top-up: status Success, Queued (final result pushed to resultsUrl) or Failed."""
    token = parse_authorization_header(request.headers.get("authorization"))
    if token is None:
        return _legacy_error(Unauthorized())
    try:
        org_id = parse_id(data.organization_id, "organizationId")
        principal = await authorize_token(runtime_of(request), token, org_id)
        runtime_of(request).refuse_unless_delivering()
        wanted = TopupRequest(
            org_id=principal.org_id,
            contact_id=None,
            phone=phones.normalise_full_number(data.phone_number),
            max_amount=data.max_amount,
            desired_amount=data.desired_amount,
            client_ref=data.client_ref or "",
            client_dedup=data.client_dedup or "",
            results_url=(data.results_url or "").strip(),
        )
        runtime = runtime_of(request)
        answer = await request_topup(runtime.topups, wanted)
    except DuplicateTopup as exc:
        assert isinstance(exc.original, StoredTopup)
        body = render_legacy_result(exc.original)
        body.update({"error": exc.message, "errorCode": exc.error_code})
        return _json(body, 409)
    except TambuliError as exc:
        return _legacy_error(exc)
    assert answer.topup is not None
    if not answer.finished:
        runtime.wake_topups()
    else:
        runtime.wake_events()
    return _json(render_legacy_result(answer.topup), 200)
