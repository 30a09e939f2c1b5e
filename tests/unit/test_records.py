"""tambuli.records: frozen to the type checker, plain and hashable by value at run time."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mypy import api as mypy_api

from tambuli.records import frozen_record


@frozen_record
class Point:
    x: int
    label: str = ""


@frozen_record(slots=True)
class Slotted:
    x: int


def test_records_compare_and_hash_by_value() -> None:
    assert Point(1, "a") == Point(1, "a") != Point(2, "a")
    assert len({Point(1, "a"), Point(1, "a"), Point(2)}) == 2
    assert {Slotted(3): "three"}[Slotted(3)] == "three"


def test_records_are_dataclasses_that_replace_and_list_their_fields() -> None:
    assert dataclasses.replace(Point(1, "a"), x=5) == Point(5, "a")
    assert [f.name for f in dataclasses.fields(Point)] == ["x", "label"]
    assert not hasattr(Slotted(1), "__dict__")


def test_the_type_checker_refuses_assigning_to_a_field(tmp_path: Path) -> None:
    source = tmp_path / "assigns.py"
    source.write_text(
        "from tambuli.records import frozen_record\n"
        "@frozen_record\n"
        "class Point:\n"
        "    x: int\n"
        "point = Point(1)\n"
        "point.x = 2\n"
    )
    report, _, status = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(source)]
    )
    assert status == 1
    assert 'Property "x" defined in "Point" is read-only' in report
