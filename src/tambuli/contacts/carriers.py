"""Stable integer IDs for mobile operators (the legacy API's `carrierId`).

An operator is a country and the carrier name `phonenumbers` gives its ranges. The operators of
the built-in top-up catalogue have fixed IDs below; any other gets an ID derived from a SHA-256
of its country and normalised name, so every process and every release gives it the same
number without a table to keep. docs/decisions.md lists the fixed IDs.
"""

from __future__ import annotations

import hashlib
import unicodedata

# 952 is the carrierId the legacy Subscription API page shows for a Smart number; the other
# fixed IDs are Tambuli's own. A fixed ID never changes and is never reused.
KNOWN_CARRIER_IDS: dict[tuple[str, str], int] = {
    ("PH", "globe"): 1,
    ("PH", "dito"): 2,
    ("KE", "safaricom"): 3,
    ("KE", "airtel"): 4,
    ("NG", "mtn"): 5,
    ("NG", "airtel"): 6,
    ("NG", "glo"): 7,
    ("ID", "telkomsel"): 8,
    ("HT", "digicel"): 9,
    ("HT", "natcom"): 10,
    ("PH", "smart"): 952,
}
# Derived IDs lie in [1,000,000, 2,001,000,000): apart from the fixed ones, and within a signed
# 32-bit integer for clients that store carrierId in one.
DERIVED_BASE = 1_000_000
DERIVED_SPAN = 2_000_000_000
NO_CARRIER_ID = 0


def normalise_carrier_name(name: str) -> str:
    """The name as IDs are keyed on it: NFKC, case-folded, single spaces, no edge spaces."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def find_carrier_id(region: str, carrier: str) -> int:
    """The operator's ID: fixed where listed, else derived; 0 when the carrier is not known."""
    name = normalise_carrier_name(carrier)
    if not name:
        return NO_CARRIER_ID
    country = region.strip().upper()
    fixed = KNOWN_CARRIER_IDS.get((country, name))
    if fixed is not None:
        return fixed
    digest = hashlib.sha256(f"{country}:{name}".encode()).digest()
    return DERIVED_BASE + int.from_bytes(digest[:8], "big") % DERIVED_SPAN
