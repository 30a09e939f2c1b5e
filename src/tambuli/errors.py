"""The TambuliError tree. Each class carries a stable engageSPARK-style errorCode.

The HTTP status for each family is decided once, in api/errors.py.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TambuliError(Exception):
    """Base of every error a caller may see; `message` is English and may change over time."""

    error_code: ClassVar[str] = "server.error"
    default_message: ClassVar[str] = "Something went wrong"

    def __init__(self, message: str | None = None, context: dict[str, Any] | None = None) -> None:
        self.message = message or self.default_message
        self.context = context
        super().__init__(self.message)


# --- 400: the request is wrong -------------------------------------------------------------
class InvalidInput(TambuliError):
    """The request cannot be carried out as given."""

    error_code = "request.invalid"
    default_message = "Invalid request"


class MalformedJson(InvalidInput):
    """The body is not JSON."""

    error_code = "request.malformedjson"
    default_message = "The request body is not valid JSON"


class EmptyBody(InvalidInput):
    """A route that takes a JSON object got no body at all."""

    error_code = "request.emptybody"
    default_message = "The request body is empty: send a JSON object"


class InvalidField(InvalidInput):
    """A field has the wrong type or value, or is not known."""

    error_code = "request.invalidfield"


class InvalidPhoneNumber(InvalidInput):
    """A phone number cannot be parsed or is not a possible number."""

    error_code = "contact.invalidphonenumber"
    default_message = "Invalid phone number"


class AmbiguousPhoneNumber(InvalidInput):
    """Both or neither of the two phone number forms were given."""

    error_code = "contact.phonenumberform"
    default_message = (
        'Exactly one of "fullPhoneNumber", or "phoneNumber" with "phoneNumberCountry" must be set'
    )


class UnknownGroup(InvalidInput):
    """A group ID does not exist in the organization."""

    error_code = "contact.unknowngroup"
    default_message = "Unknown group"


class UnknownCustomField(InvalidInput):
    """A custom field ID does not exist in the organization."""

    error_code = "contact.unknowncustomfield"
    default_message = "Unknown custom field"


class InvalidConditions(InvalidInput):
    """A contact `conditions` filter that is not valid JSON or not valid in the language."""

    error_code = "contact.conditions"
    default_message = "Invalid conditions"


class DuplicateGroupName(InvalidInput):
    """A group with that name already exists in the organization."""

    error_code = "group.duplicatename"
    default_message = "A group with this name already exists"


class InvalidImportFile(InvalidInput):
    """An uploaded contacts file cannot be read."""

    error_code = "contact.importfile"
    default_message = "The file cannot be read as CSV"


class InvalidImportRow(InvalidInput):
    """One record of a contacts file does not fit the file's header."""

    error_code = "contact.importrow"
    default_message = "The row does not match the header"


class InvalidAmount(InvalidInput):
    """A money amount is negative, too precise or otherwise unusable."""

    error_code = "balance.invalidamount"
    default_message = "Invalid amount"


class UnknownContact(InvalidInput):
    """A request names a contact that does not exist in the organization."""

    error_code = "contact.notfound"
    default_message = "No such contact in this organization"


class EmptyMessage(InvalidInput):
    """An SMS with no text."""

    error_code = "sms.emptymessage"
    default_message = "The message is empty"


class MessageTooLong(InvalidInput):
    """An SMS that needs more parts than allowed."""

    error_code = "sms.toolong"
    default_message = "The message is longer than 7 parts"


class MissingSender(InvalidInput):
    """No "from", no default sender ID for the organization and none for the server."""

    error_code = "sms.nosender"
    default_message = (
        '"from" is required: this organization has no default sender ID and the server\'s '
        "is turned off"
    )


class SenderOwned(InvalidInput):
    """The sender ID is registered to another organization."""

    error_code = "sms.senderowned"
    default_message = "This sender ID is registered to another organization"


class NoPrice(InvalidInput):
    """The price list has no price for the destination."""

    error_code = "sms.noprice"
    default_message = "There is no price for this destination"


class InvalidPushUrl(InvalidField):
    """A clientPushURL or webhook URL that Tambuli will not call."""

    error_code = "sms.invalidpushurl"


class UnknownCampaign(InvalidInput):
    """The campaign of a subscribe or unsubscribe request does not exist in the organization."""

    error_code = "campaign.notfound"
    default_message = "Unknown campaign"


class CampaignClosed(InvalidInput):
    """The campaign is not launched, is stopped, or is closed for new subscriptions."""

    error_code = "campaign.closed"
    default_message = "The campaign does not accept subscriptions"


class CampaignLocked(InvalidInput):
    """A change that only a draft campaign allows (its kind or steps), or a bad state change."""

    error_code = "campaign.locked"
    default_message = "Only a draft campaign can change this"


class ActiveSubscription(InvalidInput):
    """The contact already has an active run of the campaign."""

    error_code = "subscription.active"
    default_message = "The contact already has an active subscription to this campaign"


class ResubscribeRefused(InvalidInput):
    """allowResubscribe is false and the contact had a run of the campaign before."""

    error_code = "subscription.resubscribe"
    default_message = "The contact was subscribed to this campaign before"


class ContactOptedOut(InvalidInput):
    """The contact's number opted out of campaigns (sent an opt-out keyword)."""

    error_code = "contact.optedout"
    default_message = "The contact opted out of campaign messages"


class NoTopupOperator(InvalidInput):
    """No operator in the top-up catalogue serves the number."""

    error_code = "topup.nooperator"
    default_message = "No top-up operator is known for this number"


class TopupRefused(InvalidInput):
    """A synchronous top-up failed for good; the top-up is recorded as failed and not charged."""

    error_code = "topup.failed"
    default_message = "The top-up failed"


class InvalidCatalogue(InvalidInput):
    """A top-up catalogue file or entry breaks the catalogue's rules."""

    error_code = "topup.invalidcatalogue"
    default_message = "Invalid top-up catalogue"


class MissingReminderDate(InvalidInput):
    """A reminder subscription without the date its steps count from."""

    error_code = "subscription.reminderdate"
    default_message = "A reminder campaign needs the date to remind of"


class InvalidFile(InvalidInput):
    """An uploaded file cannot be stored as asked (too large, wrong kind, unreadable)."""

    error_code = "file.invalid"
    default_message = "The file cannot be stored"


class FileInUse(InvalidInput):
    """A file is still named by something that will use it, so it cannot be deleted."""

    error_code = "file.inuse"
    default_message = "The file is in use"


class UnknownBusinessNumber(InvalidInput):
    """ "from" is not a WhatsApp Business number registered to this organization."""

    error_code = "whatsapp.unknownsender"
    default_message = '"from" must be a WhatsApp Business number registered to this organization'


class TemplateRequired(InvalidInput):
    """A free-form WhatsApp message outside the 24 hours after the contact last wrote."""

    error_code = "whatsapp.templaterequired"
    default_message = (
        "The contact has not written to this organization on WhatsApp in the last 24 hours:"
        ' only a template message ("content") may be sent'
    )


class UnknownTemplate(InvalidInput):
    """The template name and language are not registered for the business number."""

    error_code = "whatsapp.unknowntemplate"
    default_message = "No such template is registered for this WhatsApp Business number"


class InvalidTemplateContent(InvalidInput):
    """The template content is malformed or has the wrong number of parameters."""

    error_code = "whatsapp.invalidcontent"
    default_message = "Invalid template content"


class InvalidWhatsAppMedia(InvalidInput):
    """A media file WhatsApp does not take: unknown, of the wrong type, or too large."""

    error_code = "whatsapp.invalidmedia"
    default_message = "WhatsApp does not accept this file"


# --- 401: who is asking is not known or not allowed -----------------------------------------
class Unauthorized(TambuliError):
    """Missing, malformed or unknown token, or an organization the user is not a member of."""

    error_code = "auth.invalidtoken"
    default_message = "Invalid Token"


class SignInRefused(Unauthorized):
    """A console sign-in with an unknown email, a wrong password or a used or expired link."""

    error_code = "auth.signinrefused"
    default_message = "The email or password is not right"


class Forbidden(TambuliError):
    """A signed-in user whose role in the organization does not allow the action."""

    error_code = "auth.forbidden"
    default_message = "Your role in this organization does not allow this"


# --- 402 ------------------------------------------------------------------------------------
class InsufficientFunds(TambuliError):
    """The organization's balance does not cover the cost."""

    error_code = "balance.insufficient"
    default_message = "insufficient funds"


# --- 404 ------------------------------------------------------------------------------------
class NotFound(TambuliError):
    """The thing asked for does not exist (in this organization)."""

    error_code = "notfound"
    default_message = "Not found"


class ContactNotFound(NotFound):
    """No such contact in the organization."""

    error_code = "contact.notfound"


class OrganizationNotFound(NotFound):
    """No such organization (only reachable from the command line)."""

    error_code = "organization.notfound"


class ReservationNotFound(NotFound):
    """No such balance reservation."""

    error_code = "balance.reservationnotfound"


class MessageNotFound(NotFound):
    """No such message in the organization."""

    error_code = "sms.notfound"


class WhatsAppMessageNotFound(NotFound):
    """No such WhatsApp message in the organization."""

    error_code = "whatsapp.notfound"
    default_message = "No such WhatsApp message"


class BusinessNumberNotFound(NotFound):
    """No such WhatsApp Business number (only reachable from the command line)."""

    error_code = "whatsapp.numbernotfound"
    default_message = "No such WhatsApp Business number"


class FileNotFound(NotFound):
    """No file of that name in the organization."""

    error_code = "file.notfound"
    default_message = "No such file"


class TopupNotFound(NotFound):
    """No top-up with that ID in the organization."""

    error_code = "topup.notfound"
    default_message = "Top-up not found"


class CampaignNotFound(NotFound):
    """No such campaign in the organization."""

    error_code = "campaign.notfound"
    default_message = "Campaign not found"


class RunNotFound(NotFound):
    """No such run (subscription) of the campaign."""

    error_code = "subscription.notfound"
    default_message = "Subscription not found"


# --- 409 ------------------------------------------------------------------------------------
class Conflict(TambuliError):
    """The request clashes with the current state."""

    error_code = "request.conflict"
    default_message = "Conflict"


class DuplicateMessage(Conflict):
    """A send request repeats an earlier clientDedup; `original` is the first answer."""

    error_code = "sms.clientdedup"
    default_message = "duplicate clientDedup"

    def __init__(self, original: object) -> None:
        super().__init__()
        # The first message's record; the API answers with its fields.
        self.original = original


class DuplicateTopup(Conflict):
    """A top-up request repeats an earlier clientDedup; `original` is the first top-up."""

    error_code = "topup.clientdedup"
    default_message = "duplicate clientDedup"

    def __init__(self, original: object) -> None:
        super().__init__()
        # The first top-up's record; the API answers with its fields.
        self.original = original


class ReservationClosed(Conflict):
    """A reservation was already settled or released."""

    error_code = "balance.reservationclosed"
    default_message = "The reservation is already closed"


# --- 429 ------------------------------------------------------------------------------------
class Overloaded(TambuliError):
    """More requests are waiting than the server takes on; the client should retry shortly."""

    error_code = "request.overloaded"
    default_message = "Too many requests are waiting; retry in a second"


class TooManySignInAttempts(TambuliError):
    """Too many failed sign-ins for one email from one address; `retry_after_seconds` says
    when the next try is taken."""

    error_code = "auth.throttled"
    default_message = "Too many failed sign-ins; wait before trying again"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__()
        self.retry_after_seconds = retry_after_seconds


# --- 413 ------------------------------------------------------------------------------------
class BodyTooLarge(TambuliError):
    """The request body is over the configured cap."""

    error_code = "request.toolarge"
    default_message = "Request body too large"


# --- start-up: the operator's configuration, never a request --------------------------------
class InvalidChannelConfig(TambuliError):
    """The channel config file (TAMBULI_CONFIG) cannot be read or breaks a rule; says where."""

    error_code = "config.invalid"
    default_message = "Invalid channel configuration"


# --- 503: this server cannot take the request on now; nothing was changed ------------------
class ServiceUnavailable(TambuliError):
    """The server is in no state to carry the request out; it changed nothing."""

    error_code = "server.unavailable"
    default_message = "The server cannot take requests now"


class ServerBusy(ServiceUnavailable):
    """No database connection came free within the pool's wait; the client should retry."""

    error_code = "server.busy"
    default_message = "The server is busy; retry in a second"


class NotReady(ServiceUnavailable):
    """This process's workers keep failing: a message or top-up accepted now would not go out."""

    error_code = "server.notready"
    default_message = "The server cannot deliver right now; nothing was charged, retry later"


class StorageLost(ServiceUnavailable):
    """The database file was deleted or replaced under the running server: it takes no writes."""

    error_code = "server.storage"
    default_message = "The server's database is gone; nothing was changed"


class StorageFull(ServiceUnavailable):
    """The database's disk (or its size limit) is full; writes succeed again once there is room."""

    error_code = "server.storagefull"
    default_message = "The server's storage is full; nothing was changed, retry later"
