"""Phone-number parsing and normalisation to E.164 with the `phonenumbers` library."""

from __future__ import annotations

import phonenumbers
from phonenumbers import carrier as carrier_names

from tambuli.contacts.models import PhoneNumber
from tambuli.errors import AmbiguousPhoneNumber, InvalidPhoneNumber

MAX_PHONE_TEXT = 40


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber:
    if len(text) > MAX_PHONE_TEXT or "\x00" in text:
        raise InvalidPhoneNumber(f"Invalid phone number: {text[:MAX_PHONE_TEXT]!r}")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"Invalid phone number {text!r}: {exc._msg}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(f"Invalid phone number {text!r}: not a number in use there")
    return number


def normalise_full_number(text: str, *, with_carrier: bool = True) -> PhoneNumber:
    """Normalise an international number given with or without its leading "+".

    Without `with_carrier` the carrier is left empty: looking it up costs as much as checking
    the number, and sending to a number never uses it.
    """
    stripped = text.strip()
    if not stripped:
        raise InvalidPhoneNumber("The phone number is empty")
    if not stripped.startswith("+"):
        stripped = "+" + stripped
    return _describe(_parse(stripped, None), with_carrier)


def normalise_local_number(text: str, country: str, *, with_carrier: bool = True) -> PhoneNumber:
    """Normalise a number written as it is dialled inside `country` (two-letter ISO code).

    `with_carrier` as in normalise_full_number.
    """
    region = country.strip().upper()
    if len(region) != 2 or not region.isalpha() or not region.isascii():
        raise InvalidPhoneNumber(f"Invalid phoneNumberCountry {country!r}: use a two-letter code")
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidPhoneNumber(f"Unknown phoneNumberCountry {country!r}")
    if not text.strip():
        raise InvalidPhoneNumber("The phone number is empty")
    return _describe(_parse(text.strip(), region), with_carrier)


def normalise_either(
    full: str | None, local: str | None, country: str | None, *, with_carrier: bool = True
) -> PhoneNumber:
    """Exactly one of a full number, or a local number with its country.

    `with_carrier` as in normalise_full_number.
    """
    has_full = full is not None
    has_local = local is not None or country is not None
    if has_full == has_local:
        raise AmbiguousPhoneNumber()
    if full is not None:
        return normalise_full_number(full, with_carrier=with_carrier)
    if local is None or country is None:
        raise AmbiguousPhoneNumber('"phoneNumber" and "phoneNumberCountry" must be given together')
    return normalise_local_number(local, country, with_carrier=with_carrier)


def _describe(number: phonenumbers.PhoneNumber, with_carrier: bool) -> PhoneNumber:
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return PhoneNumber(
        digits=e164.lstrip("+"),
        region=phonenumbers.region_code_for_number(number) or "",
        carrier=(carrier_names.name_for_number(number, "en") or "") if with_carrier else "",
    )
