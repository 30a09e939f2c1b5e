"""A stand-in for Reloadly's Airtime API on 127.0.0.1, following its published behaviour.

One server answers both the token endpoint and the API, so a test points auth_url and api_url
at the same address. It checks credentials and the token's audience, issues tokens that
expire, wants the versioned Accept header, auto-detects operators from a number→operator
table (so numbers can be "ported"), records top-ups, refuses a repeated customIdentifier,
lists transactions by customIdentifier, and counts what it paid per number: the property
the tests care about most is that nobody is paid twice.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.standin_server import StandinHandler, serving

ACCEPT_TOPUPS = "application/com.reloadly.topups-v1+json"
UNAUTHENTICATED = "Full authentication is required to access this resource"
CLIENT_ID = "standin-client"
CLIENT_SECRET = "standin-secret-value"

Reply = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class StandinOperator:
    """An operator the stand-in sells airtime for."""

    operator_id: int
    name: str
    country: str
    destination_currency: str
    sender_currency: str = "USD"
    supports_local_amounts: bool = True
    # Destination currency units per sender currency unit.
    fx_rate: Decimal = Decimal("56.25")


@dataclass
class NumberBehaviour:
    """How the stand-in treats top-ups to one number."""

    # Refuse every top-up with HTTP 400 and this errorCode.
    refuse_code: str = ""
    # Record the top-up, then answer REFUNDED (the operator did not take it).
    refund: bool = False
    # Answer this many top-ups with HTTP 500 first (nothing recorded).
    server_errors: int = 0
    # Answer PROCESSING, then SUCCESSFUL once the status was asked this many times.
    pending_polls: int = 0
    # Answer a top-up only once `released` is set (recorded first, unless record_late: then it
    # is recorded on release). A held answer always outlasts the client's timeout.
    hold_topup: bool = False
    record_late: bool = False
    # Answer an operator auto-detection only once `released` is set.
    hold_detection: bool = False


@dataclass
class ReloadlyStandin:
    """The stand-in's state; tests configure it and read its counters."""

    url: str = ""
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    token_lifetime: int = 3600
    # Our (the aggregator customer's) account balance, in the sender currency.
    balance: Decimal = Decimal("1000")
    operators: dict[int, StandinOperator] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)
    behaviours: dict[str, NumberBehaviour] = field(default_factory=dict)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    token_requests: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)
    polls: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Set by the test (or when the stand-in stops): held answers go out.
    released: threading.Event = field(default_factory=threading.Event)

    def add_operator(self, operator: StandinOperator, *numbers: str) -> None:
        """Sell airtime for an operator that serves these numbers."""
        with self.lock:
            self.operators[operator.operator_id] = operator
            for number in numbers:
                self.numbers[number] = operator.operator_id

    def port_number(self, number: str, operator_id: int) -> None:
        """The number now belongs to another operator."""
        with self.lock:
            self.numbers[number] = operator_id

    def set_behaviour(self, number: str, behaviour: NumberBehaviour) -> None:
        """Treat top-ups to a number in a particular way."""
        with self.lock:
            self.behaviours[number] = behaviour

    def revoke_tokens(self) -> None:
        """Forget every token issued so far (the next call with one gets a 401)."""
        with self.lock:
            self.tokens.clear()

    def payments_to(self, number: str) -> int:
        """How many top-ups to a number were paid (or are being paid); refunds do not count."""
        with self.lock:
            return sum(
                1
                for t in self.transactions
                if t["recipientPhone"] == number and t["status"] != "REFUNDED"
            )

    def count_requests(self, method: str, path_prefix: str) -> int:
        """How many requests came for paths starting with a prefix."""
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and p.startswith(path_prefix))

    def answer(self, method: str, target: str, headers: dict[str, str], body: Any) -> Reply:
        """The reply to one request (may sleep, outside the lock, for slow behaviours)."""
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)
        with self.lock:
            self.requests.append((method, path))
        if method == "POST" and path == "/oauth/token":
            return self._issue_token(body)
        if headers.get("accept") != ACCEPT_TOPUPS:
            return _error(406, path, "NOT_ACCEPTABLE", "unsupported Accept header")
        refusal = self._check_bearer(headers.get("authorization", ""), path)
        if refusal is not None:
            return refusal
        segments = [s for s in path.split("/") if s]
        if method == "GET" and _matches(segments, "operators/auto-detect/phone/*/countries/*"):
            return self._detect_operator(segments[3], segments[5], path)
        if method == "GET" and _matches(segments, "operators/*"):
            return self._describe_operator(segments[1], path)
        if method == "POST" and path == "/topups":
            return self._top_up(body if isinstance(body, dict) else {}, path)
        if method == "GET" and _matches(segments, "topups/*/status"):
            return self._poll_status(segments[1], path)
        if method == "GET" and path == "/topups/reports/transactions":
            return self._list_transactions(query.get("customIdentifier", [""])[0])
        return _error(404, path, "NOT_FOUND", "No handler found")

    def _issue_token(self, body: Any) -> Reply:
        with self.lock:
            self.token_requests += 1
            valid = (
                isinstance(body, dict)
                and body.get("client_id") == self.client_id
                and body.get("client_secret") == self.client_secret
                and body.get("grant_type") == "client_credentials"
                and body.get("audience") == self.url
            )
            if not valid:
                return _error(401, "/oauth/token", "INVALID_CREDENTIALS", "Access denied")
            token = secrets.token_urlsafe(16)
            self.tokens[token] = time.monotonic() + self.token_lifetime
            lifetime = self.token_lifetime
        scope = "send-topups read-topups-history read-operators"
        return 200, {
            "access_token": token,
            "scope": scope,
            "expires_in": lifetime,
            "token_type": "Bearer",
        }

    def _check_bearer(self, authorization: str, path: str) -> Reply | None:
        token = authorization.removeprefix("Bearer ")
        with self.lock:
            expires = self.tokens.get(token)
        if expires is None:
            return _error(401, path, "INVALID_TOKEN", UNAUTHENTICATED)
        if time.monotonic() >= expires:
            return _error(401, path, "TOKEN_EXPIRED", "Access token expired")
        return None

    def _detect_operator(self, phone: str, country: str, path: str) -> Reply:
        number = phone.lstrip("+")
        if self._behaviour(number).hold_detection:
            self.released.wait()
        with self.lock:
            operator = self.operators.get(self.numbers.get(number, -1))
        if operator is None or operator.country != country:
            return _error(404, path, "COULD_NOT_AUTO_DETECT_OPERATOR", "Could not detect")
        return 200, _operator_json(operator)

    def _describe_operator(self, operator_id: str, path: str) -> Reply:
        with self.lock:
            operator = self.operators.get(int(operator_id)) if operator_id.isdigit() else None
        if operator is None:
            return _error(404, path, "OPERATOR_NOT_FOUND", "Operator not found")
        return 200, _operator_json(operator)

    def _behaviour(self, number: str) -> NumberBehaviour:
        with self.lock:
            return self.behaviours.get(number, NumberBehaviour())

    def _top_up(self, body: dict[str, Any], path: str) -> Reply:
        phone = body.get("recipientPhone") or {}
        number = str(phone.get("number") or "").lstrip("+")
        behaviour = self._behaviour(number)
        with self.lock:
            operator = self.operators.get(body.get("operatorId", -1))
            refusal = self._refuse_topup(body, number, operator, behaviour, path)
            if refusal is not None:
                return refusal
            assert operator is not None
            transaction = None
            if not behaviour.record_late:
                transaction = dict(self._record(body, number, operator, behaviour))
        if behaviour.hold_topup:
            self.released.wait()
        if transaction is None:
            with self.lock:
                if self._find(str(body.get("customIdentifier") or "")):
                    return _error(400, path, "CUSTOM_IDENTIFIER_ALREADY_USED", "Already used")
                transaction = dict(self._record(body, number, operator, behaviour))
        return 200, transaction

    def _refuse_topup(
        self,
        body: dict[str, Any],
        number: str,
        operator: StandinOperator | None,
        behaviour: NumberBehaviour,
        path: str,
    ) -> Reply | None:
        custom = str(body.get("customIdentifier") or "")
        if custom and self._find(custom):
            return _error(400, path, "CUSTOM_IDENTIFIER_ALREADY_USED", "Custom identifier used")
        if behaviour.server_errors > 0:
            behaviour.server_errors -= 1
            return _error(500, path, "INTERNAL_SERVER_ERROR", "Internal Server Error")
        if operator is None:
            return _error(404, path, "OPERATOR_NOT_FOUND", "Operator not found")
        if behaviour.refuse_code:
            return _error(400, path, behaviour.refuse_code, "Refused")
        amount = body.get("amount")
        if not isinstance(amount, int | float) or amount <= 0:
            return _error(400, path, "INVALID_AMOUNT", "Amount must be a positive number")
        local = bool(body.get("useLocalAmount"))
        if local and not operator.supports_local_amounts:
            return _error(400, path, "INVALID_AMOUNT_FOR_OPERATOR", "No local amounts")
        cost = Decimal(str(amount)) / (operator.fx_rate if local else 1)
        if cost > self.balance:
            return _error(400, path, "INSUFFICIENT_BALANCE", "Insufficient balance")
        return None

    def _record(
        self,
        body: dict[str, Any],
        number: str,
        operator: StandinOperator,
        behaviour: NumberBehaviour,
    ) -> dict[str, Any]:
        amount = Decimal(str(body["amount"]))
        local = bool(body.get("useLocalAmount"))
        delivered = amount if local else amount * operator.fx_rate
        delivered = delivered.quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        cost = amount / operator.fx_rate if local else amount
        status = "PROCESSING" if behaviour.pending_polls else "SUCCESSFUL"
        if behaviour.refund:
            status = "REFUNDED"
        else:
            self.balance -= cost
        transaction_id = 1000 + len(self.transactions)
        transaction = {
            "transactionId": transaction_id,
            "status": status,
            "operatorTransactionId": f"OP-{transaction_id}",
            "customIdentifier": body.get("customIdentifier"),
            "recipientPhone": number,
            "recipientEmail": None,
            "senderPhone": None,
            "countryCode": operator.country,
            "operatorId": operator.operator_id,
            "operatorName": operator.name,
            "discount": 0,
            "discountCurrencyCode": operator.sender_currency,
            "requestedAmount": float(amount),
            "requestedAmountCurrencyCode": (
                operator.destination_currency if local else operator.sender_currency
            ),
            "deliveredAmount": float(delivered),
            "deliveredAmountCurrencyCode": operator.destination_currency,
            "transactionDate": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
            "pinDetail": None,
        }
        self.transactions.append(transaction)
        self.polls[transaction_id] = behaviour.pending_polls
        return transaction

    def _find(self, custom_identifier: str) -> dict[str, Any] | None:
        for transaction in self.transactions:
            if transaction["customIdentifier"] == custom_identifier:
                return transaction
        return None

    def _poll_status(self, transaction_id: str, path: str) -> Reply:
        with self.lock:
            for transaction in self.transactions:
                if str(transaction["transactionId"]) == transaction_id:
                    left = self.polls.get(transaction["transactionId"], 0)
                    if transaction["status"] == "PROCESSING":
                        left -= 1
                        if left <= 0:
                            transaction["status"] = "SUCCESSFUL"
                        self.polls[transaction["transactionId"]] = left
                    return 200, dict(transaction)
        return _error(404, path, "TRANSACTION_NOT_FOUND", "Transaction not found")

    def _list_transactions(self, custom_identifier: str) -> Reply:
        with self.lock:
            found = [
                dict(t)
                for t in self.transactions
                if not custom_identifier or t["customIdentifier"] == custom_identifier
            ]
        return 200, {"content": found, "totalElements": len(found), "totalPages": 1, "number": 0}


def _matches(segments: list[str], pattern: str) -> bool:
    parts = pattern.split("/")
    if len(parts) != len(segments):
        return False
    return all(p in ("*", s) for p, s in zip(parts, segments, strict=True))


def _operator_json(operator: StandinOperator) -> dict[str, Any]:
    return {
        "id": operator.operator_id,
        "operatorId": operator.operator_id,
        "name": operator.name,
        "bundle": False,
        "data": False,
        "pin": False,
        "supportsLocalAmounts": operator.supports_local_amounts,
        "denominationType": "RANGE",
        "senderCurrencyCode": operator.sender_currency,
        "destinationCurrencyCode": operator.destination_currency,
        "minAmount": 1,
        "maxAmount": 100,
        "country": {"isoName": operator.country, "name": operator.country},
        "fx": {"rate": float(operator.fx_rate), "currencyCode": operator.destination_currency},
    }


def _error(status: int, path: str, code: str, message: str) -> Reply:
    return status, {
        "timeStamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "message": message,
        "path": path,
        "errorCode": code,
        "infoLink": None,
        "details": [],
    }


class _Handler(StandinHandler):
    def answer_request(self, method: str) -> None:
        raw = self.read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        standin: ReloadlyStandin = self.server.standin
        status, reply = standin.answer(method, self.path, headers, body)
        self.send_answer(status, "application/json", json.dumps(reply).encode())


@contextmanager
def running_reloadly_standin(token_lifetime: int = 3600) -> Iterator[ReloadlyStandin]:
    """Serve a fresh stand-in on a free 127.0.0.1 port for the duration of the block."""
    with serving(
        _Handler, lambda url: ReloadlyStandin(url=url, token_lifetime=token_lifetime)
    ) as standin:
        try:
            yield standin
        finally:
            standin.released.set()
