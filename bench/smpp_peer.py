"""An SMSC for benchmarks: answers every submit_sm at once and sends its receipt back.

Runs in its own process so the SMSC's work does not share Tambuli's event loop:

    .venv/bin/python -m bench.smpp_peer --port 2775 --arrivals arrivals.json [--no-receipts]

It is deliberately small and cheap (plain asyncio and struct, written for this benchmark; the
test suite uses a full SMSC implementation instead): on this 2-core machine the SMSC must leave
the CPU to the process under test. It accepts any bind, answers enquire_link and unbind, gives
each part a hexadecimal message ID and, unless --no-receipts, sends a `deliver_sm` receipt on
the same session carrying `receipted_message_id`, `message_state` DELIVERED and the usual
`id:… stat:DELIVRD` text. Answers and receipts read in one chunk go out in one write.

On SIGTERM or SIGINT it writes the arrival time of every submit_sm (seconds, monotonic clock of
this machine) as a JSON list to --arrivals and exits. Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import struct
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HOST = "127.0.0.1"
HEADER = struct.Struct(">IIII")
RESPONSE_BIT = 0x80000000
BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER = 0x00000001, 0x00000002, 0x00000009
SUBMIT_SM, DELIVER_SM, UNBIND, ENQUIRE_LINK = 0x00000004, 0x00000005, 0x00000006, 0x00000015
GENERIC_NACK = 0x80000000
ESME_RINVCMDID = 0x00000003
RECEIPT_ESM_CLASS = 0x04
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
MESSAGE_STATE_DELIVERED = 2


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--arrivals", type=Path, required=True, help="where to write arrivals")
    parser.add_argument("--no-receipts", action="store_true", help="accept without receipts")
    return parser.parse_args(argv)


def encode(command: int, status: int, sequence: int, body: bytes = b"") -> bytes:
    """One PDU."""
    return HEADER.pack(16 + len(body), command, status, sequence) + body


def read_addresses(body: bytes) -> tuple[bytes, bytes, int]:
    """(source_addr, destination_addr, offset after them) of a submit_sm body."""
    offset = body.index(b"\0") + 1 + 2  # service_type, source TON and NPI
    end = body.index(b"\0", offset)
    source = body[offset:end]
    offset = end + 1 + 2  # destination TON and NPI
    end = body.index(b"\0", offset)
    return source, body[offset:end], end + 1


def build_receipt_body(handset: bytes, sender: bytes, message_id: bytes) -> bytes:
    """A deliver_sm body carrying the part's DELIVERED receipt, from the handset."""
    stamp = time.strftime("%y%m%d%H%M").encode()
    text = (
        b"id:"
        + message_id
        + b" sub:001 dlvrd:001 submit date:"
        + stamp
        + b" done date:"
        + stamp
        + b" stat:DELIVRD err:000 text:"
    )
    fields = (
        b"\0"
        + b"\x01\x01"
        + handset
        + b"\0"
        + b"\x00\x00"
        + sender
        + b"\0"
        + bytes([RECEIPT_ESM_CLASS, 0, 0])
        + b"\0\0"
        + bytes([0, 0, 0, 0, len(text)])
        + text
    )
    receipted = message_id + b"\0"
    tlvs = (
        struct.pack(">HH", TLV_RECEIPTED_MESSAGE_ID, len(receipted))
        + receipted
        + struct.pack(">HHB", TLV_MESSAGE_STATE, 1, MESSAGE_STATE_DELIVERED)
    )
    return fields + tlvs


class SmscProtocol(asyncio.Protocol):
    """One ESME connection."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.buffer = b""
        self.sequence = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        out: list[bytes] = []
        offset = 0
        while len(buffer) - offset >= 16:
            length, command, _, sequence = HEADER.unpack_from(buffer, offset)
            if len(buffer) - offset < length:
                break
            body = buffer[offset + 16 : offset + length]
            offset += length
            self.take_pdu(command, sequence, body, out)
        self.buffer = buffer[offset:]
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def take_pdu(self, command: int, sequence: int, body: bytes, out: list[bytes]) -> None:
        """Answer one PDU into `out`."""
        if command == SUBMIT_SM:
            self.peer.arrivals.append(time.monotonic())
            self.peer.counter += 1
            message_id = b"%x" % self.peer.counter
            out.append(encode(SUBMIT_SM | RESPONSE_BIT, 0, sequence, message_id + b"\0"))
            if self.peer.receipts:
                sender, handset, _ = read_addresses(body)
                self.sequence += 1
                receipt = build_receipt_body(handset, sender, message_id)
                out.append(encode(DELIVER_SM, 0, self.sequence, receipt))
        elif command & RESPONSE_BIT:
            return  # deliver_sm_resp and the like
        elif command in (BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER):
            out.append(encode(command | RESPONSE_BIT, 0, sequence, b"bench-smsc\0"))
        elif command == ENQUIRE_LINK:
            out.append(encode(ENQUIRE_LINK | RESPONSE_BIT, 0, sequence))
        elif command == UNBIND:
            out.append(encode(UNBIND | RESPONSE_BIT, 0, sequence))
        else:
            out.append(encode(GENERIC_NACK, ESME_RINVCMDID, sequence))


class Peer:
    """What every connection shares."""

    def __init__(self, receipts: bool) -> None:
        self.receipts = receipts
        self.arrivals: list[float] = []
        self.counter = 0


async def serve(args: argparse.Namespace) -> list[float]:
    """Answer until told to stop; the arrival times of every submit_sm."""
    peer = Peer(receipts=not args.no_receipts)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SmscProtocol(peer), HOST, args.port)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"listening on {HOST}:{args.port}", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
    return peer.arrivals


def main(argv: Sequence[str] | None = None) -> int:
    """Serve, then write the arrivals."""
    args = parse_args(argv)
    arrivals = asyncio.run(serve(args))
    args.arrivals.write_text(json.dumps(arrivals))
    print(f"{len(arrivals)} submit_sm answered; {time.process_time():.1f} s of CPU", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
