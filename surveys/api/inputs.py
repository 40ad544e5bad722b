"""Input pieces the surveys API's views share: validating a serializer, the acting department, and
the public ids contacts, send requests and invitations are named by."""

from __future__ import annotations

from rest_framework.serializers import Serializer, UUIDField

from departments.actors import Actor
from departments.selectors import department_get


def valid_input(serializer_class: type[Serializer], data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def department_id_of(actor: Actor, slug: str | None) -> int | None:
    return department_get(actor=actor, slug=slug).pk if slug else None


class PublicIdField(UUIDField):
    """A contact's, send request's or invitation's id as the API shows it: a UUID, in text. A number
    is refused (400) rather than read as a UUID, so an old integer id is not quietly "not found"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


DEPARTMENT_HELP = (
    "Slug of the department acting. Required for signed-in users; an API key always acts for its own "
    "department."
)


DURATION_HELP = "ISO 8601 duration, such as P30D (30 days) or PT12H (12 hours)."
