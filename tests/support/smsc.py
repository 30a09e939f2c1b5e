"""An SMSC that is not ours, for the SMPP channel tests: smpp.twisted3's server on 127.0.0.1.

Twisted's reactor runs once per process in a daemon thread; each TestSmsc listens on its own
port and is driven from the test's asyncio loop through thread-safe calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

from smpp.pdu import constants
from smpp.pdu import operations as ops
from smpp.pdu import pdu_types as pt
from smpp.twisted.config import SMPPServerConfig
from smpp.twisted.protocol import DataHandlerResponse
from smpp.twisted.server import IAuthenticatedSMPP, SMPPServerFactory
from twisted.cred import checkers, portal
from twisted.internet import defer, reactor
from zope.interface import implementer  # type: ignore[import-untyped]

from tests.support.server import free_port

# It logs every connection at WARNING.
logging.getLogger("smpp.twisted").setLevel(logging.ERROR)
_reactor_started = threading.Event()
_reactor: Any = reactor

# Decides a submit_sm answer: a status, (status, message_id), a Deferred of one, or None.
SubmitHook = Callable[[Any], Any]


def _start_reactor() -> None:
    if _reactor_started.is_set():
        return
    thread = threading.Thread(
        target=_reactor.run, kwargs={"installSignalHandlers": False}, daemon=True
    )
    thread.start()
    _reactor.callFromThread(_reactor_started.set)
    if not _reactor_started.wait(10):
        raise RuntimeError("the Twisted reactor did not start")


def _in_reactor(function: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
    """Run a function in the reactor thread; a future of its (Deferred) result."""
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def run() -> None:
        deferred = defer.maybeDeferred(function, *args)
        deferred.addCallbacks(
            future.set_result, lambda failure: future.set_exception(failure.value)
        )

    _reactor.callFromThread(run)
    return future


@implementer(portal.IRealm)
class _Realm:
    def requestAvatar(self, avatar_id: Any, mind: Any, *interfaces: Any) -> Any:  # noqa: N802
        return (IAuthenticatedSMPP, avatar_id, lambda: None)


def _status_member(code: int) -> Any:
    # smpp.pdu's CommandStatus values are positions in a list, not wire codes: map by name.
    return pt.CommandStatus[constants.command_status_value_map[code]["name"]]


def _to_response(decided: int | tuple[int, str]) -> Any:
    status, message_id = decided if isinstance(decided, tuple) else (decided, None)
    if message_id is not None:
        return DataHandlerResponse(status=_status_member(status), message_id=message_id)
    return _status_member(status)


class TestSmsc:
    """A listening SMSC with scriptable submit_sm answers and a log of what it received."""

    __test__ = False  # not a pytest test class

    def __init__(self, system_id: str = "tambuli", password: str = "secret") -> None:  # noqa: S107
        self.port = free_port()
        self.system_id = system_id
        # Statuses for the next submit_sm answers, in order; ESME_ROK once empty.
        self.statuses: list[int] = []
        # A hook that may decide an answer (status or (status, message_id)); None: default.
        self.on_submit: SubmitHook | None = None
        self.submits: list[Any] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        users: Any = checkers.InMemoryUsernamePasswordDatabaseDontUse()
        # Its constructor stores names as bytes, which then never match: set the dict directly.
        users.users = {system_id: password}
        config = SMPPServerConfig(
            msgHandler=self._answer_submit,
            systems={system_id: {"max_bindings": 4}},
            enquireLinkTimerSecs=0,
            inactivityTimerSecs=300,
        )
        realm: Any = _Realm()
        self.factory = SMPPServerFactory(config, auth_portal=portal.Portal(realm, [users]))
        self._listener: Any = None

    def _answer_submit(self, system_id: str, protocol: Any, pdu: Any) -> Any:
        with self._lock:
            self.submits.append(pdu)
            decided = self.on_submit(pdu) if self.on_submit is not None else None
            if decided is None:
                status = self.statuses.pop(0) if self.statuses else 0
                decided = (0, f"MID{next(self._ids)}") if status == 0 else status
        if isinstance(decided, defer.Deferred):
            return decided.addCallback(_to_response)
        return _to_response(decided)

    def start(self) -> None:
        """Listen on 127.0.0.1 (again, after stop)."""
        _start_reactor()
        self._listener = _in_reactor(
            _reactor.listenTCP, self.port, self.factory, 50, "127.0.0.1"
        ).result(10)

    def stop(self) -> None:
        """Drop every connection and stop listening (as if the SMSC died)."""

        def drop() -> Any:
            for bindings in list(self.factory.bound_connections.values()):
                for protocol in list(bindings):
                    protocol.transport.abortConnection()
            return self._listener.stopListening()

        _in_reactor(drop).result(10)

    def count_binds(self) -> int:
        """How many sessions are bound now."""

        def count() -> int:
            bindings = self.factory.getBoundConnections(self.system_id)
            return 0 if bindings is None else len(list(bindings))

        return int(_in_reactor(count).result(10))

    async def deliver(self, **fields: Any) -> Any:
        """Send a deliver_sm to a receiving bind; the client's deliver_sm_resp PDU."""

        def send() -> Any:
            bindings = self.factory.getBoundConnections(self.system_id)
            protocol = bindings and bindings.getNextBindingForDelivery()
            if protocol is None:
                raise RuntimeError("no receiving bind")
            values = dict(fields)
            if isinstance(values.get("esm_class"), int):
                receipt = values["esm_class"] & 0x04
                kind = pt.EsmClassType.SMSC_DELIVERY_RECEIPT if receipt else pt.EsmClassType.DEFAULT
                gsm = (
                    {pt.EsmClassGsmFeatures.UDHI_INDICATOR_SET}
                    if values["esm_class"] & 0x40
                    else set()
                )
                values["esm_class"] = pt.EsmClass(pt.EsmClassMode.DEFAULT, kind, gsm)
            if isinstance(values.get("message_state"), int):
                values["message_state"] = pt.MessageState(values["message_state"])
            if isinstance(values.get("data_coding"), int):
                by_code = {0: "SMSC_DEFAULT_ALPHABET", 3: "LATIN_1", 8: "UCS2"}
                scheme = pt.DataCodingDefault[by_code[values["data_coding"]]]
                values["data_coding"] = pt.DataCoding(schemeData=scheme)
            deferred = protocol.sendDataRequest(ops.DeliverSM(**values))
            return deferred.addCallback(lambda answer: answer.response)

        return await asyncio.wrap_future(_in_reactor(send))

    async def unbind_all(self) -> None:
        """Unbind every session from the SMSC's side."""
        await asyncio.wrap_future(_in_reactor(self.factory.unbindGateway, self.system_id))
