"""Whatever Meta (or anyone) POSTs, reading it never raises: every part is used or counted."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tambuli.channels.whatsapp.cloud_webhooks import parse_webhook
from tests.support.graph_webhooks import message_value, status_value, wrap_value

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_JSON = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)
_KEYS = st.sampled_from(
    [
        "id",
        "from",
        "type",
        "timestamp",
        "status",
        "text",
        "image",
        "location",
        "errors",
        "metadata",
        "contacts",
        "messages",
        "statuses",
        "value",
        "field",
        "entry",
        "changes",
    ]
)


@settings(max_examples=300, deadline=None)
@given(document=_JSON)
def test_any_json_is_read_without_raising(document: Any) -> None:
    parsed = parse_webhook(json.dumps(document).encode(), "whatsapp")
    assert parsed.skipped == len(parsed.reasons)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_any_bytes_are_read_without_raising(data: bytes) -> None:
    parse_webhook(data, "whatsapp")


def _replace_everywhere(node: Any, key: str, value: Any) -> Any:
    """The document with every `key` of every object set to `value`."""
    if isinstance(node, dict):
        return {
            k: value if k == key else _replace_everywhere(v, key, value) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_replace_everywhere(item, key, value) for item in node]
    return node


@settings(max_examples=300, deadline=None)
@given(key=_KEYS, value=_JSON)
def test_a_real_body_with_any_field_changed_accounts_for_each_part(key: str, value: Any) -> None:
    # An empty list (or null) where the parts were removes them rather than breaking them.
    assume(not (key in ("entry", "changes", "messages", "statuses") and value in (None, [])))
    body = wrap_value(message_value("image", {"id": "1", "mime_type": "image/jpeg"}))
    body["entry"][0]["changes"].append(
        {"field": "messages", "value": status_value("wamid.a", "failed", error=(131026, "x"))}
    )
    parsed = parse_webhook(json.dumps(_replace_everywhere(body, key, value)).encode(), "whatsapp")
    # Two parts went in; each comes out as a status, a message or a counted skip (a broken
    # envelope may hide both behind one skip, and an odd value may add one for what it holds).
    used = len(parsed.statuses) + len(parsed.inbound)
    assert used <= 2 and (used == 2 or parsed.skipped >= 1)


def test_absurdly_deep_nesting_is_counted_not_raised() -> None:
    parsed = parse_webhook(b"[" * 100_000 + b"]" * 100_000, "whatsapp")
    assert parsed.skipped == 1
