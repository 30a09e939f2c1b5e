"""Whether a campaign's messages can be sent at all: checked at launch and at each subscription.

A campaign that cannot send would end every run in error without sending anything; refusing the
launch or the subscription names the reason to whoever asked, while it can still be fixed.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.campaigns.models import Campaign, Step
from tambuli.errors import MessageTooLong, MissingSender, TambuliError, UnknownBusinessNumber
from tambuli.messaging import senders
from tambuli.messaging.models import choose_sender
from tambuli.messaging.personalisation import has_variables
from tambuli.messaging.segments import MAX_PARTS, segment_message
from tambuli.organizations import profile as profiles
from tambuli.whatsapp import numbers
from tambuli.whatsapp.sending import check_media_within, check_template_within


async def check_campaign_sendable_within(
    conn: AsyncConnection, campaign: Campaign, server_sender: str
) -> str:
    """The sender ID the campaign sends from; a TambuliError naming why it cannot send.

    The sender is the campaign's, else the organization's default, else the server's
    (`server_sender`, "" for none), as for every message; a sender registered to another
    organization, or a fixed text longer than an SMS may be, is refused too. Each step is
    checked again when it fires (the sender or a registration may change meanwhile).
    WhatsApp steps are checked as when the campaign was saved (a number or template may have
    been removed since); a campaign of WhatsApp steps only needs no SMS sender.
    """
    try:
        await check_whatsapp_steps_within(conn, campaign.org_id, campaign.rules.steps)
    except TambuliError as exc:
        raise type(exc)(
            f"Campaign {campaign.id} cannot send: {exc.message}",
            {**(exc.context or {}), "campaignId": campaign.id},
        ) from None
    if all(step.whatsapp is not None for step in campaign.rules.steps):
        return ""
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
        if step.whatsapp is not None:
            continue  # WhatsApp texts are not split into SMS parts
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


async def check_whatsapp_steps_within(
    conn: AsyncConnection, org_id: int, steps: Sequence[Step]
) -> None:
    """Each WhatsApp step's number is the organization's, its templates are registered for that
    number with the parameters they take, and its File exists and suits WhatsApp; else the
    error of a send breaking the same rule, naming the step."""
    for index, step in enumerate(steps):
        if step.whatsapp is None:
            continue
        where = f"steps[{index}]"
        try:
            number = await numbers.find_sending_number_within(conn, org_id, step.whatsapp.sender)
        except UnknownBusinessNumber:
            raise UnknownBusinessNumber(
                f"{where}.from: +{step.whatsapp.sender} is not a WhatsApp Business number"
                " registered to this organization",
                {"field": f"{where}.from"},
            ) from None
        try:
            for language, template in step.whatsapp.templates.items():
                where = f"steps[{index}].template.{language}"
                await check_template_within(conn, number, template)
            where = f"steps[{index}]"
            await check_media_within(conn, org_id, step.whatsapp.media)
        except TambuliError as exc:
            raise type(exc)(
                f"{where}: {exc.message}", {**(exc.context or {}), "field": where}
            ) from None
