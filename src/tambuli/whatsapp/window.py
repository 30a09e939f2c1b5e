"""Where one recipient stands in WhatsApp's 24-hour window: when they last wrote, whether a
free-form message may go now and until when (the console's compose form shows it). The rule is
models.within_service_window, the one send_whatsapp applies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tambuli.contacts import service as contacts
from tambuli.db.engine import Database
from tambuli.errors import UnknownContact
from tambuli.whatsapp.models import SERVICE_WINDOW, within_service_window


@dataclass(frozen=True)
class ServiceWindow:
    """One recipient's window at a moment; contact_id is None for a number no contact has."""

    contact_id: int | None
    last_inbound_at: datetime | None
    open: bool

    @property
    def closes_at(self) -> datetime | None:
        """When free-form messages stop being allowed (None: the contact never wrote)."""
        return None if self.last_inbound_at is None else self.last_inbound_at + SERVICE_WINDOW


async def read_service_window(
    db: Database,
    now: datetime,
    org_id: int,
    *,
    contact_id: int | None = None,
    phone_digits: str = "",
) -> ServiceWindow:
    """The window of a contact by ID (UnknownContact when the organization has none), or of
    the newest contact with a number, as send_whatsapp finds the recipient."""
    async with db.read() as conn:
        if contact_id is not None:
            contact = await contacts.get_contact_within(conn, org_id, contact_id)
            if contact is None:
                raise UnknownContact(f"No contact with ID {contact_id} in this organization")
        else:
            contact = await contacts.find_newest_contact_with_phone_within(
                conn, org_id, phone_digits
            )
    if contact is None:
        return ServiceWindow(None, None, False)
    last = contact.whatsapp_inbound_at
    return ServiceWindow(contact.id, last, within_service_window(last, now))
