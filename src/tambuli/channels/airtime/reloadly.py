"""Reloadly's Airtime API as an AirtimeProvider.

Calls (base URLs come from settings; the sandbox API is https://topups-sandbox.reloadly.com and
shares https://auth.reloadly.com for tokens):

- POST {auth}/oauth/token: client credentials for the audience {api}. The bearer token is kept
  until shortly before its `expires_in` and fetched again once when a call answers 401.
- GET {api}/operators/auto-detect/phone/{phone}/countries/{iso}: who serves the number today
  (GET {api}/operators/{id} stands in when Reloadly cannot auto-detect it).
- POST {api}/topups with customIdentifier = the order's reference.
- GET {api}/topups/reports/transactions?customIdentifier=…: lookups by reference.
- GET {api}/topups/{transactionId}/status: the current state of a top-up still processing.

How Reloadly's answers map to outcomes is in reloadly_answers.py.

A top-up that may have reached Reloadly is never reported TRANSIENT on a guess: the worker
would send a new attempt under a new reference, and the recipient could be paid twice.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from tambuli.channels.airtime.base import AirtimeOrder, AirtimeOutcome, AirtimeResult
from tambuli.channels.airtime.reloadly_answers import (
    DUPLICATE_REFERENCE_CODE,
    classify_refusal,
    convert_to_minor,
    find_minor_digits,
    map_transaction_status,
)
from tambuli.clock import Clock, SystemClock
from tambuli.outbound_http import CallFailed, HttpAnswer, OutboundHttp

RELOADLY_PROVIDER = "reloadly"
SANDBOX_API_URL = "https://topups-sandbox.reloadly.com"
# Reloadly's Airtime API wants its versioned media type on every call.
ACCEPT_TOPUPS = "application/com.reloadly.topups-v1+json"
# A token is renewed this long before Reloadly says it expires (or a tenth of its lifetime if
# that is shorter), so no call carries a token that expires in flight.
TOKEN_MARGIN = timedelta(seconds=60)
# Orders this process sent and still remembers (currency, transaction ID) for faster lookups.
REMEMBERED_ORDERS = 10_000
_ERROR_LIMIT = 200


def _short(text: str) -> str:
    return text[:_ERROR_LIMIT]


def _describe(exc: CallFailed) -> str:
    return _short(str(exc))


def _parse_json(content: bytes) -> Any:
    # parse_float keeps amounts exact: a float never touches money.
    try:
        return json.loads(content, parse_float=Decimal)
    except ValueError:
        return None


@dataclass(frozen=True)
class _Answer:
    """One HTTP answer from the API."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and isinstance(self.body, dict)

    @property
    def error_code(self) -> str:
        code = self.body.get("errorCode") if isinstance(self.body, dict) else None
        return str(code) if code else ""

    def describe(self) -> str:
        message = self.body.get("message") if isinstance(self.body, dict) else None
        label = self.error_code or f"HTTP {self.status}"
        return _short(f"{label}: {message}" if message else label)


class _Refusal(Exception):
    """An answer that ends a call early."""

    def __init__(self, result: AirtimeResult) -> None:
        super().__init__(result.error)
        self.result = result


@dataclass
class _SentOrder:
    currency: str
    minor_digits: int
    transaction_id: str = ""


class ReloadlyProvider:
    """An AirtimeProvider on Reloadly's Airtime API."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        auth_url: str,
        api_url: str,
        timeout: float,
        client: OutboundHttp | None = None,
        clock: Clock | None = None,
        name: str = RELOADLY_PROVIDER,
    ) -> None:
        self.name = name
        self._client_id = client_id
        self._client_secret = client_secret
        self._auth_url = auth_url.rstrip("/")
        self._api_url = api_url.rstrip("/")
        self._timeout = timeout
        self._owns_client = client is None
        self._client = client or OutboundHttp()
        self._clock: Clock = clock or SystemClock()
        self._token = ""
        self._token_renew_at: datetime | None = None
        self._token_lock = asyncio.Lock()
        self._sent: OrderedDict[str, _SentOrder] = OrderedDict()

    async def aclose(self) -> None:
        """Close the HTTP client if this provider opened it."""
        if self._owns_client:
            await self._client.close()

    async def send_topup(self, order: AirtimeOrder) -> AirtimeResult:
        """Send one top-up after checking who serves the number; never raises."""
        try:
            operator = await self._choose_operator(order)
            body = build_topup_body(order, operator)
        except _Refusal as refusal:
            return refusal.result
        except CallFailed as exc:
            return AirtimeResult(AirtimeOutcome.TRANSIENT, error=_describe(exc))
        except (KeyError, TypeError, ValueError):
            # Nothing was sent yet, so an odd operator answer is safe to retry later.
            return AirtimeResult(AirtimeOutcome.TRANSIENT, error="unreadable operator answer")
        self._remember(order)
        return await self._post_topup(order, body)

    async def find_topup(self, reference: str) -> AirtimeResult:
        """The state of an earlier top-up by its reference; NOT_FOUND if Reloadly has none."""
        try:
            transaction = await self._find_transaction(reference)
            if transaction is None:
                return AirtimeResult(AirtimeOutcome.NOT_FOUND)
            return self._read_transaction(reference, transaction)
        except _Refusal as refusal:
            return self._lookup_failed(refusal.result.error)
        except CallFailed as exc:
            return self._lookup_failed(_describe(exc))
        except (ArithmeticError, KeyError, TypeError, ValueError):
            return self._lookup_failed("unreadable answer")

    async def _choose_operator(self, order: AirtimeOrder) -> dict[str, Any]:
        phone, country = quote(order.recipient, safe=""), quote(order.country, safe="")
        answer = await self._call(
            "GET", f"/operators/auto-detect/phone/{phone}/countries/{country}"
        )
        ref = order.provider_operator_ref
        if answer.ok:
            detected = str(answer.body.get("operatorId") or answer.body.get("id") or "")
            if ref and detected and detected != ref:
                # A ported number: topping up the operator in our catalogue would fail or
                # vanish; the feature retries with the operator Reloadly detected.
                raise _Refusal(
                    AirtimeResult(
                        AirtimeOutcome.WRONG_OPERATOR,
                        error=f"the number belongs to operator {detected}",
                        operator_hint=detected,
                    )
                )
            return dict(answer.body)
        if answer.error_code == "COULD_NOT_AUTO_DETECT_OPERATOR" and ref:
            # Detection is only a check for ported numbers; the catalogue's operator stands.
            answer = await self._call("GET", f"/operators/{quote(ref, safe='')}")
            if answer.ok:
                return dict(answer.body)
        raise _Refusal(
            AirtimeResult(
                classify_refusal(answer.status, answer.error_code), error=answer.describe()
            )
        )

    async def _post_topup(self, order: AirtimeOrder, body: dict[str, Any]) -> AirtimeResult:
        try:
            answer = await self._call("POST", "/topups", body=body)
        except _Refusal as refusal:
            return refusal.result
        except CallFailed as exc:
            if exc.never_sent:
                # The request never left: nothing can have been paid.
                return AirtimeResult(AirtimeOutcome.TRANSIENT, error=_describe(exc))
            # Sent but unanswered: Reloadly may still be paying. Ask what it holds; if it holds
            # nothing yet, PENDING makes the worker look again later instead of paying twice.
            return await self._settle_unanswered(
                order.reference, AirtimeOutcome.PENDING, _describe(exc)
            )
        if answer.ok:
            try:
                return self._read_transaction(order.reference, answer.body)
            except (ArithmeticError, KeyError, TypeError, ValueError):
                return await self._settle_unanswered(
                    order.reference, AirtimeOutcome.PENDING, "unreadable answer"
                )
        if answer.error_code == DUPLICATE_REFERENCE_CODE:
            # This reference was paid (or refused) before: report that, never pay again.
            return await self._settle_unanswered(
                order.reference, AirtimeOutcome.PENDING, answer.describe()
            )
        if answer.status >= 500:
            # A server error usually means nothing happened; the lookup makes sure of it.
            return await self._settle_unanswered(
                order.reference, AirtimeOutcome.TRANSIENT, answer.describe()
            )
        return AirtimeResult(
            classify_refusal(answer.status, answer.error_code), error=answer.describe()
        )

    async def _settle_unanswered(
        self, reference: str, otherwise: AirtimeOutcome, error: str
    ) -> AirtimeResult:
        found = await self.find_topup(reference)
        if found.outcome == AirtimeOutcome.NOT_FOUND:
            return AirtimeResult(otherwise, error=error)
        return found

    async def _find_transaction(self, reference: str) -> dict[str, Any] | None:
        sent = self._sent.get(reference)
        if sent is not None and sent.transaction_id:
            fresh = await self._fetch_status(sent.transaction_id)
            if fresh is not None:
                return fresh
        answer = await self._call(
            "GET",
            "/topups/reports/transactions",
            params={"customIdentifier": reference, "page": 1, "size": 20},
        )
        if not answer.ok:
            raise _Refusal(AirtimeResult(AirtimeOutcome.PENDING, error=answer.describe()))
        for item in answer.body.get("content") or []:
            if isinstance(item, dict) and item.get("customIdentifier") == reference:
                status = str(item.get("status") or "")
                unsettled = map_transaction_status(status) == AirtimeOutcome.PENDING
                if unsettled and item.get("transactionId"):
                    # The report may lag behind; the status endpoint is the live answer.
                    fresh = await self._fetch_status(str(item["transactionId"]))
                    return fresh or dict(item)
                return dict(item)
        return None

    async def _fetch_status(self, transaction_id: str) -> dict[str, Any] | None:
        # None when the status endpoint cannot say; the transactions report then answers.
        answer = await self._call("GET", f"/topups/{quote(transaction_id, safe='')}/status")
        return dict(answer.body) if answer.ok else None

    def _read_transaction(self, reference: str, transaction: dict[str, Any]) -> AirtimeResult:
        status = str(transaction.get("status") or "")
        outcome = map_transaction_status(status)
        transaction_id = str(transaction.get("transactionId") or "")
        sent = self._sent.get(reference)
        if sent is not None and transaction_id:
            sent.transaction_id = transaction_id
        if outcome != AirtimeOutcome.SUCCEEDED:
            return AirtimeResult(
                outcome, transaction_id=transaction_id, error=_short(f"Reloadly status {status}")
            )
        delivered = transaction.get("deliveredAmount")
        currency = str(transaction.get("deliveredAmountCurrencyCode") or "")
        if delivered is None or not currency:
            return AirtimeResult(outcome, transaction_id=transaction_id)
        if sent is not None and currency == sent.currency:
            digits = sent.minor_digits
        else:
            digits = find_minor_digits(currency)
        return AirtimeResult(
            outcome,
            transaction_id=transaction_id,
            received_minor=convert_to_minor(Decimal(str(delivered)), digits),
            received_currency=currency,
        )

    def _lookup_failed(self, error: str) -> AirtimeResult:
        # Not knowing is not "not sent": PENDING makes the worker ask again, never resend.
        return AirtimeResult(AirtimeOutcome.PENDING, error=_short(f"lookup failed: {error}"))

    def _remember(self, order: AirtimeOrder) -> None:
        if order.reference in self._sent:
            self._sent.move_to_end(order.reference)
            return
        self._sent[order.reference] = _SentOrder(order.currency, order.minor_digits)
        while len(self._sent) > REMEMBERED_ORDERS:
            self._sent.popitem(last=False)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> _Answer:
        token = await self._bearer_token()
        response = await self._request(method, path, token, body, params)
        if response.status == 401:
            # Revoked or expired early: one fresh token, one more try. A 401 means the call
            # was not carried out, so repeating a top-up here cannot pay twice.
            self._forget_token(token)
            token = await self._bearer_token()
            response = await self._request(method, path, token, body, params)
        return _Answer(response.status, _parse_json(response.content))

    async def _request(
        self,
        method: str,
        path: str,
        token: str,
        body: dict[str, Any] | None,
        params: dict[str, Any] | None,
    ) -> HttpAnswer:
        headers = {"Authorization": f"Bearer {token}", "Accept": ACCEPT_TOPUPS}
        return await self._client.call(
            method,
            self._api_url + path,
            json_body=body,
            params=params,
            headers=headers,
            time_limit=self._timeout,
        )

    async def _bearer_token(self) -> str:
        # One lock, so a burst of top-ups after expiry asks for one token, not hundreds.
        async with self._token_lock:
            now = self._clock.now()
            if self._token and self._token_renew_at is not None and now < self._token_renew_at:
                return self._token
            credentials = {
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "grant_type": "client_credentials",
                "audience": self._api_url,
            }
            try:
                response = await self._client.call(
                    "POST",
                    self._auth_url + "/oauth/token",
                    json_body=credentials,
                    headers={"Accept": "application/json"},
                    time_limit=self._timeout,
                )
            except CallFailed as exc:
                raise _Refusal(
                    AirtimeResult(AirtimeOutcome.TRANSIENT, error=f"no token: {_describe(exc)}")
                ) from None
            answer = _parse_json(response.content)
            try:
                token = str(answer["access_token"])
                lifetime = timedelta(seconds=int(str(answer["expires_in"])))
            except (KeyError, TypeError, ValueError):
                token, lifetime = "", timedelta(0)
            if response.status != 200 or not token:
                # Never echo the answer: a token endpoint's error may repeat the credentials.
                error = f"access token refused (HTTP {response.status})"
                raise _Refusal(AirtimeResult(AirtimeOutcome.TRANSIENT, error=error))
            self._token = token
            self._token_renew_at = now + lifetime - min(TOKEN_MARGIN, lifetime / 10)
            return token

    def _forget_token(self, token: str) -> None:
        # Only the token that failed: another call may already have fetched a fresh one.
        if self._token == token:
            self._token = ""
            self._token_renew_at = None


def build_topup_body(order: AirtimeOrder, operator: dict[str, Any]) -> dict[str, Any]:
    """The POST /topups body for an order and the operator that will carry it."""
    operator_id = operator.get("operatorId") or operator.get("id")
    sender = str(operator.get("senderCurrencyCode") or "")
    destination = str(operator.get("destinationCurrencyCode") or "")
    if order.currency == sender:
        local = False
    elif order.currency == destination and operator.get("supportsLocalAmounts"):
        local = True
    else:
        error = f"operator {operator_id} does not sell airtime in {order.currency}"
        raise _Refusal(AirtimeResult(AirtimeOutcome.PERMANENT, error=error))
    amount = Decimal(order.amount_minor).scaleb(-order.minor_digits)
    return {
        "operatorId": int(str(operator_id)),
        # A float's shortest repr writes any amount of up to 15 significant digits exactly.
        "amount": int(amount) if order.minor_digits == 0 else float(amount),
        "useLocalAmount": local,
        "customIdentifier": order.reference,
        "recipientPhone": {"countryCode": order.country, "number": order.recipient},
    }
