"""The trigger API's lean input reader (surveys/api/trigger_input.py) gives exactly what the
serializer gives, and leaves every body it does not plainly accept to the serializer, whose 400
names the field."""

import pytest

from surveys.api.trigger_input import trigger_input_read
from surveys.api.triggers import TriggerInputSerializer

ANN = {"kind": "email", "value": "ann@example.com"}

PLAIN = [
    {"survey": 7, "channel": "email", "contact": {"identities": [ANN]}},
    {"survey": 7, "channel": "sms", "contact": {"identities": [{"kind": "phone", "value": "+49 30 123"}]}},
    {
        "department": "support",
        "survey": 2**63 - 1,
        "channel": "email",
        "purpose": "  order 1234 delivered  ",
        "unknown": "ignored",
        "contact": {
            "identities": [ANN, {"kind": "external", "source": " crm ", "value": " 42 "}],
            "name": " Ann ",
            "locale": "",
            "time_zone": "Europe/Berlin",
            "attributes": {"tier": "gold", "orders": 3, "note": None},
        },
    },
]

NOT_PLAIN = [
    [],
    {"survey": "7", "channel": "email", "contact": {"identities": [ANN]}},  # a number as a string
    {"survey": True, "channel": "email", "contact": {"identities": [ANN]}},
    {"survey": 0, "channel": "email", "contact": {"identities": [ANN]}},
    {"survey": 2**63, "channel": "email", "contact": {"identities": [ANN]}},
    {"survey": 7, "channel": "fax", "contact": {"identities": [ANN]}},
    {"survey": 7, "contact": {"identities": [ANN]}},
    {"survey": 7, "channel": "email", "contact": {"identities": []}},
    {"survey": 7, "channel": "email", "contact": {"identities": [{"kind": "email", "value": ""}]}},
    {"survey": 7, "channel": "email", "contact": {"identities": [{"kind": "email", "value": "a" * 321}]}},
    {"survey": 7, "channel": "email", "contact": {"identities": [{"kind": "fax", "value": "1"}]}},
    {"survey": 7, "channel": "email", "contact": {"identities": [ANN], "name": "n" * 201}},
    {"survey": 7, "channel": "email", "contact": {"identities": [ANN], "attributes": ["a"]}},
    {"survey": 7, "channel": "email", "contact": {"identities": [ANN]}, "purpose": None},
    {"survey": 7, "channel": "email", "contact": {"identities": [ANN]}, "department": "no slug"},
]


@pytest.mark.parametrize("body", PLAIN)
def test_a_plain_body_is_read_as_the_serializer_reads_it(body):
    serializer = TriggerInputSerializer(data=body)
    assert serializer.is_valid(), serializer.errors

    assert trigger_input_read(body) == serializer.validated_data


@pytest.mark.parametrize("body", NOT_PLAIN)
def test_any_other_body_is_left_to_the_serializer(body):
    assert trigger_input_read(body) is None
    # Most of these are bad input the serializer explains; "7" is one it accepts on its own.
    serializer = TriggerInputSerializer(data=body)
    assert serializer.is_valid() == (body is NOT_PLAIN[1])
