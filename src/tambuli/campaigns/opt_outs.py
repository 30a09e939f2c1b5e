"""The keywords that opt a number out of an organization's campaigns, and back in."""

from __future__ import annotations

from collections.abc import Sequence

from tambuli.campaigns.polls import normalise_reply

# English, Filipino, Cebuano, Spanish, French, Portuguese and Indonesian words people send
# to stop (and restart) messages; an organization can replace either list.
DEFAULT_OPT_OUT_KEYWORDS = (
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "HINTO",
    "TIGIL",
    "UNDANG",
    "ALTO",
    "BAJA",
    "ARRET",
    "ARRÊT",
    "PARAR",
    "BERHENTI",
)
DEFAULT_OPT_IN_KEYWORDS = ("START", "UNSTOP", "SUBSCRIBE")


def parse_keywords(text: str, defaults: Sequence[str]) -> frozenset[str]:
    """Keywords from a comma-separated setting ("" means the defaults), normalised."""
    words = [w for w in (part.strip() for part in text.split(",")) if w] or list(defaults)
    return frozenset(normalise_reply(w) for w in words)
