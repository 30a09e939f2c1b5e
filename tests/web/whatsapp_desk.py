"""An organization ready to use WhatsApp in the console: money, a simulated business number
with templates, a contact who never wrote, a contact who wrote (with a location and a picture)
by the server's clock, an image in Files, and its editor and viewer."""

from __future__ import annotations

from dataclasses import dataclass

from tambuli.billing import service as billing
from tambuli.channels.whatsapp.base import InboundMedia, InboundWhatsApp, Location, MediaKind
from tambuli.channels.whatsapp.simulator import WHATSAPP_SIMULATOR
from tambuli.clock import FakeClock, SystemClock
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tambuli.files import service as stored_files
from tambuli.files.models import Upload
from tambuli.organizations import service as organizations
from tambuli.organizations.models import Role
from tambuli.whatsapp import numbers
from tambuli.whatsapp.inbound import record_inbound_message
from tests.support.media import picture_png
from tests.web.console_client import Person, make_person

REMINDER = "Hello {{1}}, your check-up is on {{2}}."
FILE_LIMIT = 16 * 1_048_576


@dataclass(frozen=True)
class WhatsAppDesk:
    """What a WhatsApp console test works with."""

    org_id: int
    business_number: str
    # Never wrote on WhatsApp; its number ends in 0008 (the simulator reads what it gets).
    silent_contact_id: int
    silent_phone: str
    # Wrote a minute ago by the server's clock, sharing a location and a picture.
    writer_contact_id: int
    writer_phone: str
    image_filename: str
    editor: Person
    viewer: Person


async def make_whatsapp_desk(db: Database, clock: FakeClock) -> WhatsAppDesk:
    """The organization, its data and its people."""
    org = await organizations.create_organization(db, clock, "Barangay Health Station")
    await billing.credit_balance(db, clock, org.org_id, 25_000_000, "test funds")
    business = f"1555{org.org_id:07d}"
    await numbers.add_number(db, clock, org.org_id, business, f"pn-{org.org_id}", "")
    await numbers.add_template(db, clock, business, "hello_world", "en_US", "Hello World")
    await numbers.add_template(db, clock, business, "checkup_reminder", "en", REMINDER)
    silent_phone = f"63917{org.org_id % 1000:03d}0008"
    silent = await contacts.create_contact(
        db,
        clock,
        org.org_id,
        phones.normalise_full_number(silent_phone),
        ContactInput(first_name="Liza", last_name="Reyes"),
    )
    writer_phone = f"63918{org.org_id % 1000:03d}0009"
    # The server runs on the wall clock: the 24-hour window is measured from its now.
    await record_inbound_message(
        db,
        clock,
        InboundWhatsApp(
            channel=WHATSAPP_SIMULATOR,
            recipient=business,
            sender=writer_phone,
            text="Here is the rash, and where we live",
            at=SystemClock().now(),
            operator_event_id=f"wamid.test-{org.org_id}-in",
            media=(InboundMedia(MediaKind.IMAGE, "rash.png", "image/png", picture_png()),),
            location=Location("14.5995", "120.9842", "Barangay Hall"),
            profile_name="Jun",
        ),
        FILE_LIMIT,
    )
    writer = await contacts.find_newest_contact_with_phone(
        db, org.org_id, phones.normalise_full_number(writer_phone)
    )
    assert writer is not None
    report = await stored_files.upload_files(
        db,
        clock,
        org.org_id,
        "posters",
        [Upload("Clinic poster.png", picture_png())],
        max_file_bytes=FILE_LIMIT,
    )
    editor = await make_person(db, clock, org.org_id, Role.EDITOR)
    viewer = await make_person(db, clock, org.org_id, Role.VIEWER)
    return WhatsAppDesk(
        org.org_id,
        business,
        silent.id,
        silent_phone,
        writer.id,
        writer_phone,
        report.stored[0].filename,
        editor,
        viewer,
    )
