"""Past SMS traffic written straight into the messages table, for views of history (the
console's dashboard) that would otherwise need weeks of sending."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert

from tambuli.db.engine import Database
from tambuli.db.schema import messages


@dataclass(frozen=True)
class PastMessage:
    """One message as it stands after its delivery (or its arrival)."""

    created_at: datetime
    direction: str = "egress"  # or "ingress"
    status: str = "accepted"  # accepted, failed, received
    receipt: str = "unknown"  # unknown, confirmed, failed
    charged_micro: int = 0


async def insert_past_messages(db: Database, org_id: int, past: list[PastMessage]) -> None:
    """Store the messages as if they had been sent or received at their times."""
    rows = [
        {
            "org_id": org_id,
            "direction": m.direction,
            "sender": "Tambuli" if m.direction == "egress" else "639170000000",
            "recipient": "639170000000" if m.direction == "egress" else "Tambuli",
            "body": "history",
            "encoding": "gsm7",
            "parts": 1,
            "status": m.status,
            "receipt": m.receipt,
            "charged_micro": m.charged_micro,
            "created_at": m.created_at,
            "updated_at": m.created_at,
        }
        for m in past
    ]
    async with db.write() as conn:
        for start in range(0, len(rows), 500):
            await conn.execute(insert(messages), rows[start : start + 500])
