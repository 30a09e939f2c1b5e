"""Finding the fields of a request body that its struct does not know."""

from __future__ import annotations

from typing import Any

import pytest

from tambuli.api.body_fields import find_unknown_fields
from tambuli.api.campaigns import CampaignChanges, CampaignInput
from tambuli.api.subscriptions import SubscribeBody


@pytest.mark.parametrize(
    ("body_type", "raw", "unknown"),
    [
        (SubscribeBody, {"fullPhoneNumber": "1", "type": "x"}, ["type"]),
        (SubscribeBody, {"contact": {"firstName": "A", "email": "e"}}, ["contact.email"]),
        # Free-form objects have no unknown names.
        (SubscribeBody, {"args": {"anything": 1}, "delay": {"unit": "day"}}, []),
        (SubscribeBody, {"delay": {"unit": "day", "untis": "x"}}, ["delay.untis"]),
        (
            CampaignInput,
            {"name": "n", "steps": [{"message": "a"}, {"message": "b", "colour": "red"}]},
            ["steps[1].colour"],
        ),
        (
            CampaignChanges,
            {"sendingWindow": {"from": "08:00", "zone": "x"}},
            ["sendingWindow.zone"],
        ),
        (CampaignChanges, {"sendingWindow": None, "x": 1}, ["x"]),
        # Wrong shapes are the decoder's to refuse, not unknown fields.
        (CampaignInput, {"steps": "none"}, []),
        (SubscribeBody, [1, 2], []),
    ],
)
def test_unknown_names_are_found_with_their_paths(
    body_type: Any, raw: object, unknown: list[str]
) -> None:
    assert find_unknown_fields(raw, body_type) == unknown


def test_a_prefix_places_the_names_in_a_larger_body() -> None:
    found = find_unknown_fields({"email": "e", "x": 1}, SubscribeBody, "contacts[2]")
    assert found == ["contacts[2].email", "contacts[2].x"]
