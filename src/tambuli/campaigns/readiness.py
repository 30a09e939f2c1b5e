"""Whether a campaign's messages can be sent at all: checked at launch and at each subscription.

A campaign that cannot send would end every run in error without sending anything; refusing the
launch or the subscription names the reason to whoever asked, while it can still be fixed.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.campaigns.models import Campaign
from tambuli.errors import MessageTooLong, MissingSender, TambuliError
from tambuli.messaging import senders
from tambuli.messaging.models import choose_sender
from tambuli.messaging.personalisation import has_variables
from tambuli.messaging.segments import MAX_PARTS, segment_message
from tambuli.organizations import profile as profiles


async def check_campaign_sendable_within(
    conn: AsyncConnection, campaign: Campaign, server_sender: str
) -> str:
    """The sender ID the campaign sends from; a TambuliError naming why it cannot send.

    The sender is the campaign's, else the organization's default, else the server's
    (`server_sender`, "" for none), as for every message; a sender registered to another
    organization, or a fixed text longer than an SMS may be, is refused too. Each step is
    checked again when it fires (the sender or a registration may change meanwhile).
    """
    profile = await profiles.read_profile_within(conn, campaign.org_id)
    org_default = "" if profile is None else profile.default_sender_id
    try:
        sender = choose_sender(campaign.rules.sender, org_default, server_sender)
    except MissingSender:
        raise MissingSender(
            f"Campaign {campaign.id} cannot send: it has no sender, its organization has no "
            "default sender ID and the server's is turned off",
            {"campaignId": campaign.id},
        ) from None
    try:
        await senders.check_sender_within(conn, campaign.org_id, sender)
        _check_fixed_texts(campaign)
    except TambuliError as exc:
        raise type(exc)(
            f"Campaign {campaign.id} cannot send: {exc.message}",
            {**(exc.context or {}), "campaignId": campaign.id},
        ) from None
    return sender


def _check_fixed_texts(campaign: Campaign) -> None:
    """MessageTooLong for a text without variables that needs more parts than allowed."""
    for index, step in enumerate(campaign.rules.steps):
        texts = dict(step.message)
        if step.question is not None:
            texts.update({f"retry.{k}": v for k, v in step.question.retry.items()})
        for language, text in texts.items():
            if has_variables(text):
                continue  # its length is known only per contact, when the step fires
            parts = segment_message(text).part_count
            if parts > MAX_PARTS:
                raise MessageTooLong(
                    f"steps[{index}] text {language!r} needs {parts} parts; at most "
                    f"{MAX_PARTS} are allowed",
                    {"field": f"steps[{index}]", "parts": parts},
                )
