"""`{{contact.firstName}}`-style variables in SMS text, filled from a contact."""

from __future__ import annotations

import re
from collections.abc import Mapping

from tambuli.contacts.models import Contact, fold_name

_VARIABLE = re.compile(r"\{\{\s*contact\.([^{}]+?)\s*\}\}", re.IGNORECASE)


def has_variables(text: str) -> bool:
    """Whether the text holds any contact variable at all."""
    return "{{" in text and _VARIABLE.search(text) is not None


def render_for_contact(text: str, contact: Contact, field_names: Mapping[int, str]) -> str:
    """Fill contact variables; names match case-insensitively and unknown ones render empty.

    `field_names` maps custom field IDs to their names; when two fields share a name, the
    oldest (lowest ID) wins, as it does everywhere else.
    """
    if not has_variables(text):
        return text
    values: dict[str, str] = {}
    for field_id in sorted(field_names, reverse=True):
        value = contact.custom_fields.get(field_id)
        if value is not None:
            values[fold_name(field_names[field_id])] = value
    # Built-in fields win over custom fields that happen to share their name.
    values.update(
        {
            "firstname": contact.first_name,
            "lastname": contact.last_name,
            "fullphonenumber": contact.phone,
            "language": contact.language,
        }
    )
    return _fill(text, values)


def render_for_new_contact(text: str, digits: str) -> str:
    """Fill contact variables as for a contact about to be created: it has only its number."""
    if not has_variables(text):
        return text
    return _fill(text, {"fullphonenumber": digits})


def _fill(text: str, values: Mapping[str, str]) -> str:
    return _VARIABLE.sub(lambda match: values.get(fold_name(match.group(1)), ""), text)
