"""OpenAPI examples of the eligibility check for surveys other tools send (issue 16), in a module of
their own: surveys/api/triggers.py imports them, and external_schema.py imports triggers."""

from drf_spectacular.utils import OpenApiExample

CONTACT_EXAMPLE = {"identities": [{"kind": "email", "value": "ana@example.com"}]}


ELIGIBILITY_EXAMPLES = [
    OpenApiExample(
        "A survey of ours",
        request_only=True,
        value={"contact": CONTACT_EXAMPLE, "survey": 12, "channel": "email"},
    ),
    OpenApiExample(
        "A survey another tool sends (by kind)",
        request_only=True,
        value={"contact": CONTACT_EXAMPLE, "survey_kind": "transactional", "channel": "email"},
    ),
    OpenApiExample(
        "Blocked by an open complaint",
        response_only=True,
        value={
            "decision": {
                "allowed": False,
                "reason": "blackout",
                "rule": None,
                "next_eligible_at": None,
                "explanation": "Not now: an open complaint.",
            },
            "invitation": None,
            "contact": {"id": "5b1f0c2e-8a7d-4a53-9d0e-1f2a3b4c5d6e"},
        },
    ),
]
