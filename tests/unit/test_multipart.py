"""The multipart assembler every channel joins its inbound parts with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tambuli.channels.base import InboundSms
from tambuli.channels.multipart import InboundAssembler
from tambuli.channels.sms.http_presets import InboundPart, add_inbound_parts, new_gateway_assembler

T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
# Parts as SMPP gives them: text, keyed by (sender, recipient, reference).
TextAssembler = InboundAssembler[tuple[str, str, int], str]


KEY = ("639171230005", "TAMBULI", 7)


def test_a_message_comes_out_whole_when_its_last_part_arrives() -> None:
    assembler: TextAssembler = InboundAssembler("".join)
    assert assembler.add(KEY, 3, 3, "c", T0) is None
    assert assembler.add(KEY, 3, 1, "a", T0) is None
    assert assembler.add(KEY, 3, 2, "b", T0) == "abc"
    assert assembler.pending_count == 0


def test_a_repeated_part_is_ignored_before_and_after_completion() -> None:
    assembler: TextAssembler = InboundAssembler("".join)
    assert assembler.add(KEY, 2, 1, "a", T0) is None
    assert assembler.add(KEY, 2, 1, "a", T0) is None
    assert assembler.add(KEY, 2, 2, "b", T0) == "ab"
    assert assembler.add(KEY, 2, 2, "b", T0) is None
    assert assembler.pending_count == 0


def test_a_single_or_misnumbered_part_stands_alone() -> None:
    assembler: TextAssembler = InboundAssembler("".join)
    assert assembler.add(KEY, 1, 1, "solo", T0) == "solo"
    assert assembler.add(KEY, 2, 3, "odd", T0) == "odd"


def test_parts_still_missing_after_patience_come_out_with_what_arrived() -> None:
    assembler: TextAssembler = InboundAssembler("".join, patience=timedelta(minutes=10))
    assembler.add(KEY, 3, 1, "a", T0)
    assembler.add(KEY, 3, 3, "c", T0)
    assert assembler.expire(T0 + timedelta(minutes=9)) == []
    assert assembler.expire(T0 + timedelta(minutes=10)) == [(KEY, "ac")]
    assert assembler.pending_count == 0
    assert assembler.expire(T0 + timedelta(hours=1)) == []


def test_a_full_assembler_flushes_its_oldest_message_at_the_next_expire() -> None:
    assembler: TextAssembler = InboundAssembler("".join, limit=2)
    keys = [("a", "b", ref) for ref in range(3)]
    for key in keys:
        assembler.add(key, 2, 1, f"part of {key[2]}", T0)
    assert assembler.pending_count == 2
    assert assembler.expire(T0) == [(keys[0], "part of 0")]
    assert assembler.add(keys[1], 2, 2, "!", T0) == "part of 1!"


def test_a_reference_reused_with_another_total_flushes_the_first_message() -> None:
    assembler: TextAssembler = InboundAssembler("".join)
    assembler.add(KEY, 3, 1, "old", T0)
    assert assembler.add(KEY, 2, 1, "new", T0) is None
    assert assembler.expire(T0) == [(KEY, "old")]


def test_an_assembler_needs_room_for_one_message() -> None:
    with pytest.raises(ValueError):
        InboundAssembler("".join, limit=0)


@given(st.lists(st.text(max_size=5), min_size=2, max_size=12), st.data())
def test_parts_in_any_order_and_repeated_give_the_same_text(
    parts: list[str], data: st.DataObject
) -> None:
    numbered = list(enumerate(parts, start=1))
    arrivals = data.draw(st.permutations(numbered + data.draw(st.lists(st.sampled_from(numbered)))))
    assembler: TextAssembler = InboundAssembler("".join)
    results = [assembler.add(KEY, len(parts), seq, text, T0) for seq, text in arrivals]
    assert [r for r in results if r is not None] == ["".join(parts)]
    assert assembler.expire(T0 + timedelta(days=1)) == []


def gateway_part(index: int, body: str, event_id: str, total: int = 2) -> InboundPart:
    sms = InboundSms("gateway", "639171230005", "TAMBULI", body, T0, operator_event_id=event_id)
    return InboundPart(sms, "ref-1", total, index)


def test_gateway_parts_join_into_one_message_named_by_its_first_part() -> None:
    assembler = new_gateway_assembler()
    assert add_inbound_parts(assembler, [gateway_part(2, "world", "id-2")], T0) == []
    [whole] = add_inbound_parts(assembler, [gateway_part(1, "hello ", "id-1")], T0)
    assert (whole.body, whole.operator_event_id) == ("hello world", "id-1")


def test_a_gateway_part_waiting_too_long_is_recorded_as_it_is_at_the_next_callback() -> None:
    assembler = new_gateway_assembler()
    add_inbound_parts(assembler, [gateway_part(1, "alone", "id-1", total=3)], T0)
    [partial] = add_inbound_parts(assembler, [], T0 + timedelta(hours=1))
    assert partial.body == "alone"
