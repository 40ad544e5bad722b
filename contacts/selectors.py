"""Reading the contact book, scoped to who asks.

A CX lead sees every contact; anyone else sees the contacts their departments know (brought in or
surveyed: a DepartmentContact row). Anything outside that is "not found", so ids do not leak.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import django_filters
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from rest_framework.exceptions import ValidationError

from contacts.errors import InvalidIdentity
from contacts.models import Consent, Contact, DepartmentContact, Identity
from contacts.normalise import normalise_identity
from cxfeedback.exceptions import NotFound
from departments.actors import Actor

# Query parameters that filter on one attribute: `attr.tier=gold` or `attributes__tier=gold`.
ATTRIBUTE_FILTER_PREFIXES = ("attr.", "attributes__")


def contacts_visible(*, actor: Actor) -> QuerySet[Contact]:
    """Every contact the actor may see, with identities prefetched in the order they were added."""
    contacts = Contact.objects.prefetch_related(
        Prefetch("identities", queryset=Identity.objects.order_by("pk"))
    )
    if actor.is_cx_lead:
        return contacts
    # Exists, not a join: a contact known by two of the actor's departments is listed once.
    known = DepartmentContact.objects.filter(contact=OuterRef("pk"), department_id__in=actor.department_ids)
    return contacts.filter(Exists(known))


def contact_get(*, actor: Actor, contact_id: int) -> Contact:
    """One contact the actor may see; raises NotFound otherwise."""
    contact = contacts_visible(actor=actor).filter(pk=contact_id).first()
    if contact is None:
        raise NotFound(f"Contact {contact_id} not found.")
    return contact


def contact_list(*, actor: Actor, filters: Mapping[str, Any] | None = None) -> QuerySet[Contact]:
    """The contacts the actor may see, matching `filters` (see ContactFilter and attribute filters),
    oldest first. Raises ValidationError (400) or InvalidIdentity (400) for a malformed filter."""
    filters = filters or {}
    filterset = ContactFilter(data=filters, queryset=contacts_visible(actor=actor).order_by("pk"))
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return _attributes_filter(filterset.qs, filters)


class ContactFilter(django_filters.FilterSet):
    """Filters by identity (compared normalised, as contacts are matched) and by creation time."""

    email = django_filters.CharFilter(method="filter_identity", label="Email address (normalised match).")
    phone = django_filters.CharFilter(method="filter_identity", label="Phone number (normalised match).")
    external_id = django_filters.CharFilter(
        method="filter_identity", label="External id, with external_source."
    )
    external_source = django_filters.CharFilter(
        method="filter_nothing", label="Source system of external_id."
    )
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Contact
        fields: list[str] = []

    def filter_identity(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        kind = {"email": Identity.Kind.EMAIL, "phone": Identity.Kind.PHONE}.get(name, Identity.Kind.EXTERNAL)
        try:
            normalised = normalise_identity(kind, value)
        except InvalidIdentity as error:
            raise InvalidIdentity(f"{name}: {error.message}", extra=error.extra) from error
        identities = Identity.objects.filter(contact=OuterRef("pk"), kind=kind, normalised=normalised)
        source = self.form.cleaned_data.get("external_source")
        if kind == Identity.Kind.EXTERNAL and source:
            identities = identities.filter(source=source.strip())
        return queryset.filter(Exists(identities))

    def filter_nothing(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        return queryset  # read by filter_identity


def _attributes_filter(contacts: QuerySet[Contact], filters: Mapping[str, Any]) -> QuerySet[Contact]:
    """`attr.tier=gold`: attributes contain {"tier": "gold"}; a number or true/false also matches as
    such, since a query string cannot say which was meant. Served by the GIN index on attributes."""
    for parameter, value in filters.items():
        key = next((parameter[len(p) :] for p in ATTRIBUTE_FILTER_PREFIXES if parameter.startswith(p)), None)
        if key is None:
            continue
        if not key:
            raise ValidationError({parameter: ["Name the attribute, as in attr.tier=gold."]})
        if "\x00" in key or "\x00" in value:  # jsonb cannot hold it: PostgreSQL would refuse the query
            raise ValidationError({parameter: ["Null characters are not allowed."]})
        condition = Q(attributes__contains={key: value})
        typed = _json_scalar(value)
        if typed is not None:
            condition |= Q(attributes__contains={key: typed})
        contacts = contacts.filter(condition)
    return contacts


def _json_scalar(value: str) -> int | float | bool | None:
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, int | float | bool) else None


def consent_list(*, actor: Actor, contact: Contact) -> QuerySet[Consent]:
    """The contact's consent records that concern the actor: every-department ones and their own
    departments' (a CX lead sees all), oldest first."""
    consents = (
        Consent.objects.filter(contact=contact).select_related("department").order_by("created_at", "pk")
    )
    if actor.is_cx_lead:
        return consents
    return consents.filter(Q(department__isnull=True) | Q(department_id__in=actor.department_ids))
