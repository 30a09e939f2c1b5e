"""Phone-number parsing and normalisation to E.164 with the `phonenumbers` library."""

from __future__ import annotations

import re
from functools import cache

import phonenumbers
from phonenumbers import carrier as carrier_names
from phonenumbers.phonemetadata import PhoneMetadata

from tambuli.contacts.models import PhoneNumber
from tambuli.errors import AmbiguousPhoneNumber, InvalidPhoneNumber

MAX_PHONE_TEXT = 40

# "+" and nothing but ASCII digits: the form nearly every API client sends.
_PLAIN_INTERNATIONAL = re.compile(r"\+([1-9][0-9]{2,38})", re.ASCII)
_LONGEST_COUNTRY_CODE = 3
# The national significant number's bounds that phonenumbers.parse enforces.
_SHORTEST_NATIONAL = 2
_LONGEST_NATIONAL = 17


@cache
def _national_prefix_of(country_code: int) -> re.Pattern[str] | None:
    """The pattern phonenumbers strips as a national prefix after this country code."""
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None or not metadata.national_prefix_for_parsing:
        return None
    return re.compile(metadata.national_prefix_for_parsing)


def _read_plain_international(text: str) -> phonenumbers.PhoneNumber | None:
    """What phonenumbers.parse makes of "+" and digits, or None where its answer needs it.

    parse spends most of its time normalising characters that are not there in this form.
    Only the plainest case is answered here: a known country code followed by a national
    number that has no national prefix to strip and no leading zero; anything else is left
    to parse. A property test holds this to parse's own answers.
    """
    plain = _PLAIN_INTERNATIONAL.fullmatch(text)
    if plain is None:
        return None
    digits = plain.group(1)
    for length in range(1, _LONGEST_COUNTRY_CODE + 1):
        country_code = int(digits[:length])
        if country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[length:]
    if not _SHORTEST_NATIONAL <= len(national) <= _LONGEST_NATIONAL or national[0] == "0":
        return None
    prefix = _national_prefix_of(country_code)
    if prefix is not None and prefix.match(national) is not None:
        return None
    return phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber:
    if len(text) > MAX_PHONE_TEXT or "\x00" in text:
        raise InvalidPhoneNumber(f"Invalid phone number: {text[:MAX_PHONE_TEXT]!r}")
    try:
        plain = _read_plain_international(text) if region is None else None
        number = plain if plain is not None else phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"Invalid phone number {text!r}: {exc._msg}") from exc
    # Possible, not valid: the reference's own examples (631234567890) are in no range
    # phonenumbers knows, and ranges open faster than its data follows. An operator that
    # refuses such a number fails the message permanently, and it is refunded.
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise InvalidPhoneNumber(
            f"Invalid phone number {text!r}: {_IMPOSSIBLE_REASONS.get(possible, 'impossible')}"
        )
    return number


# Why a number of a known country code cannot be one; IS_POSSIBLE_LOCAL_ONLY is refused as
# well: such a number is dialled without its area code, so it cannot be reached from abroad.
_IMPOSSIBLE_REASONS = {
    phonenumbers.ValidationResult.TOO_SHORT: "too short for its country",
    phonenumbers.ValidationResult.TOO_LONG: "too long for its country",
    phonenumbers.ValidationResult.INVALID_LENGTH: "not a possible length for its country",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "a local number without its area code",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
}


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

    Empty strings count as absent (clients send `""` for fields they do not use). A country
    next to a full number is accepted when the number is in that country's calling code, since
    published clients send both; it is refused only when the two disagree.
    `with_carrier` as in normalise_full_number.
    """
    full, local, country = (_given(v) for v in (full, local, country))
    if full is not None and local is None:
        number = normalise_full_number(full, with_carrier=with_carrier)
        if country is not None:
            _check_country_agrees(number, country)
        return number
    if full is not None or (local is None and country is None):
        raise AmbiguousPhoneNumber()
    if local is None or country is None:
        raise AmbiguousPhoneNumber('"phoneNumber" and "phoneNumberCountry" must be given together')
    return normalise_local_number(local, country, with_carrier=with_carrier)


def normalise_optional(
    full: str | None, local: str | None, country: str | None, *, with_carrier: bool = True
) -> PhoneNumber | None:
    """As normalise_either, or None when no number is given at all (all absent or empty)."""
    if all(_given(v) is None for v in (full, local, country)):
        return None
    return normalise_either(full, local, country, with_carrier=with_carrier)


def _given(value: str | None) -> str | None:
    return None if value is None or not value.strip() else value


def _check_country_agrees(number: PhoneNumber, country: str) -> None:
    region = country.strip().upper()
    calling_code = phonenumbers.country_code_for_region(region) if region.isascii() else 0
    if calling_code == 0:
        raise InvalidPhoneNumber(f"Unknown phoneNumberCountry {country!r}")
    if not number.digits.startswith(str(calling_code)):
        raise AmbiguousPhoneNumber(
            f'"fullPhoneNumber" {number.digits} is not a number of "phoneNumberCountry" {country}'
        )


def region_of(number: phonenumbers.PhoneNumber) -> str:
    """The number's country (ISO code); for a number in no known range of a calling code that
    several countries share (+1, +7), the code's main country; "" when there is none."""
    region = phonenumbers.region_code_for_number(number)
    if region is None and number.country_code is not None:
        region = phonenumbers.region_code_for_country_code(number.country_code)
    if region is None:
        return ""
    return "" if region == phonenumbers.UNKNOWN_REGION else str(region)


def _describe(number: phonenumbers.PhoneNumber, with_carrier: bool) -> PhoneNumber:
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return PhoneNumber(
        digits=e164.lstrip("+"),
        region=region_of(number),
        carrier=(carrier_names.name_for_number(number, "en") or "") if with_carrier else "",
    )
