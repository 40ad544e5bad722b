"""The trigger API's input, read without DRF's serializers when it is plainly well formed.

A trigger is called for every business event, and building TriggerInputSerializer's nested fields
(DRF deep-copies them for every call) cost more CPU than the gatekeeper's decision. Almost every
body is plain: an integer survey, a known channel, a list of identities as strings. Such a body is
read here into exactly what the serializer would give; anything else (a wrong type, a value out of
bounds, a number given as a string) returns None, and the serializer reads it and names the field.
The JSON parser has already refused NUL and lone surrogates (cxfeedback/parsers.py), as CharField
would. tests/surveys/gatekeeper/test_trigger_input.py holds both to the same answers.
"""

from __future__ import annotations

import re
from typing import Any

from contacts.models import Channel, Identity

MAX_ID = 2**63 - 1  # ids are bigint: a larger number is bad input, not a database error
CHANNELS = frozenset(Channel.values)
KINDS = frozenset(Identity.Kind.values)
SLUG = re.compile(r"[-a-zA-Z0-9_]+")  # DRF's SlugField
# The contact's optional text fields and their max_length, as TriggerContactSerializer declares them.
CONTACT_TEXTS = {"name": 200, "locale": 16, "time_zone": 64}


def trigger_input_read(data: Any) -> dict[str, Any] | None:
    """TriggerInputSerializer's validated_data for a plainly well-formed body; None for any other."""
    if type(data) is not dict:
        return None
    survey, channel = data.get("survey"), data.get("channel")
    if type(survey) is not int or not 1 <= survey <= MAX_ID:
        return None
    if type(channel) is not str or channel not in CHANNELS:
        return None
    contact = _contact_read(data.get("contact"))
    purpose = _text_read(data.get("purpose", ""), max_length=500)
    if contact is None or purpose is None:
        return None
    read = {"survey": survey, "channel": channel, "contact": contact, "purpose": purpose}
    if "department" in data:
        department = data["department"]
        if type(department) is not str or not SLUG.fullmatch(department):
            return None
        read["department"] = department
    return read


def _contact_read(contact: Any) -> dict[str, Any] | None:
    if type(contact) is not dict:
        return None
    identities = contact.get("identities")
    if type(identities) is not list or not identities:
        return None
    read: dict[str, Any] = {"identities": []}
    for identity in identities:
        if type(identity) is not dict:
            return None
        kind, value = identity.get("kind"), identity.get("value")
        source = _text_read(identity.get("source", ""), max_length=60)
        # value keeps its whitespace (trim_whitespace=False) and may not be empty.
        if type(kind) is not str or kind not in KINDS or source is None:
            return None
        if type(value) is not str or not value or len(value) > 320:
            return None
        read["identities"].append({"kind": kind, "source": source, "value": value})
    for name, max_length in CONTACT_TEXTS.items():
        if name in contact:
            text = _text_read(contact[name], max_length=max_length)
            if text is None:
                return None
            read[name] = text
    if "attributes" in contact:
        if type(contact["attributes"]) is not dict:
            return None
        read["attributes"] = dict(contact["attributes"])
    return read


def _text_read(value: Any, *, max_length: int) -> str | None:
    """As a CharField(allow_blank=True) with trim_whitespace reads a string; None for anything else."""
    if type(value) is not str:
        return None
    value = value.strip()
    return value if len(value) <= max_length else None
