"""Input pieces the surveys API's views share: validating a serializer, and the acting department."""

from __future__ import annotations

from rest_framework.serializers import Serializer

from departments.actors import Actor
from departments.selectors import department_get


def valid_input(serializer_class: type[Serializer], data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def department_id_of(actor: Actor, slug: str | None) -> int | None:
    return department_get(actor=actor, slug=slug).pk if slug else None


DEPARTMENT_HELP = (
    "Slug of the department acting. Required for signed-in users; an API key always acts for its own "
    "department."
)


DURATION_HELP = "ISO 8601 duration, such as P30D (30 days) or PT12H (12 hours)."
