"""SMPP 3.4 PDUs on the wire: framing, headers, and the few PDUs a client writes.

`submit_sm` is encoded and `deliver_sm` decoded by the smpp34 codec (Rust, fast and fuzzed);
it has no classes for the header-only and bind PDUs, which are a few fixed fields each and are
written here with struct.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

import smpp34

from tambuli.channels.sms.smpp.fields import SubmitPart
from tambuli.records import frozen_record

HEADER = struct.Struct(">IIII")
HEADER_SIZE = HEADER.size
# SMPP 3.4 bounds no PDU; a short_message is at most 254 octets and message_payload 64 KiB.
MAX_PDU_SIZE = 70_000
INTERFACE_VERSION = 0x34
RESPONSE_BIT = 0x80000000


class Command(IntEnum):
    """The command_id values a client sends or answers."""

    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


ESME_ROK = 0x00
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RSYSERR = 0x08
ESME_RX_T_APPN = 0x64


class PduError(Exception):
    """The peer sent bytes that are not an SMPP PDU; the connection cannot be trusted."""


@frozen_record(slots=True)
class Frame:
    """One complete PDU as received: its header and its raw bytes."""

    command_id: int
    status: int
    sequence: int
    data: bytes

    @property
    def body(self) -> bytes:
        """The bytes after the header."""
        return self.data[HEADER_SIZE:]


class FrameReader:
    """Cuts a TCP byte stream into PDUs by their command_length."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[Frame]:
        """Add received bytes; yields every PDU they complete."""
        self._buffer += data
        start = 0
        buffer = self._buffer
        try:
            while len(buffer) - start >= HEADER_SIZE:
                length, command_id, status, sequence = HEADER.unpack_from(buffer, start)
                if length < HEADER_SIZE or length > MAX_PDU_SIZE:
                    raise PduError(f"command_length {length} is out of bounds")
                if len(buffer) - start < length:
                    break
                yield Frame(command_id, status, sequence, bytes(buffer[start : start + length]))
                start += length
        finally:
            del buffer[:start]


def encode_pdu(command_id: int, sequence: int, status: int = ESME_ROK, body: bytes = b"") -> bytes:
    """A PDU from its header fields and body."""
    return HEADER.pack(HEADER_SIZE + len(body), command_id, status, sequence) + body


def _c_string(text: str, limit: int) -> bytes:
    """A NUL-terminated octet string; SMPP limits include the NUL."""
    data = text.encode("latin-1", "replace")[: limit - 1]
    return data + b"\x00"


def encode_bind(
    command: Command,
    sequence: int,
    *,
    system_id: str,
    password: str,
    system_type: str,
    address_range: str,
    ton: int = 0,
    npi: int = 0,
) -> bytes:
    """A bind_transmitter, bind_receiver or bind_transceiver."""
    body = b"".join(
        (
            _c_string(system_id, 16),
            _c_string(password, 9),
            _c_string(system_type, 13),
            bytes((INTERFACE_VERSION, ton, npi)),
            _c_string(address_range, 41),
        )
    )
    return encode_pdu(command, sequence, body=body)


@dataclass(frozen=True, slots=True)
class Address:
    """An SMPP address with its type of number and numbering plan."""

    address: str
    ton: int
    npi: int


def encode_submit(
    sequence: int,
    part: SubmitPart,
    source: Address,
    destination: Address,
    *,
    registered_delivery: bool,
) -> bytes:
    """A submit_sm carrying one part."""
    return smpp34.SubmitSm(
        source.address,
        destination.address,
        part.short_message,
        source_addr_ton=source.ton,
        source_addr_npi=source.npi,
        dest_addr_ton=destination.ton,
        dest_addr_npi=destination.npi,
        esm_class=part.esm_class,
        data_coding=part.data_coding,
        # Bit 0: a receipt on final delivery, success or failure.
        registered_delivery=1 if registered_delivery else 0,
        tlvs=[smpp34.Tlv(tag, value) for tag, value in part.tlvs],
        sequence_number=sequence,
    ).encode()


def read_c_string(body: bytes) -> str:
    """The first NUL-terminated string of a body (a response's message_id or system_id)."""
    end = body.find(b"\x00")
    return (body if end < 0 else body[:end]).decode("latin-1")


@frozen_record(slots=True)
class Delivery:
    """What a deliver_sm (or data_sm) carries that Tambuli reads."""

    command: int
    sequence: int
    source: str
    destination: str
    esm_class: int
    data_coding: int
    short_message: bytes
    tlvs: dict[int, bytes]


def decode_delivery(frame: Frame) -> Delivery:
    """Read a deliver_sm; PduError when its body is malformed."""
    try:
        pdu = smpp34.decode(frame.data)
    except smpp34.SmppError as exc:
        raise PduError(f"malformed deliver_sm: {exc}") from exc
    if not isinstance(pdu, smpp34.DeliverSm):
        raise PduError(f"command 0x{frame.command_id:08x} is not a deliver_sm")
    tlvs = {tlv.tag: tlv.value for tlv in pdu.tlvs}
    short_message = bytes(pdu.short_message)
    if not short_message and 0x0424 in tlvs:
        # message_payload carries long bodies when short_message is empty.
        short_message = tlvs[0x0424]
    return Delivery(
        command=frame.command_id,
        sequence=frame.sequence,
        source=pdu.source_addr,
        destination=pdu.destination_addr,
        esm_class=pdu.esm_class,
        data_coding=pdu.data_coding,
        short_message=short_message,
        tlvs=tlvs,
    )
