"""Reading the contact book, scoped to who asks.

A CX lead sees every person whole. Anyone else sees the people their departments know (a
DepartmentContact row: the department's view), and of each only what their departments hold: the
views' fields and the identities they supplied. Anything outside that is "not found", so ids,
emails and phones tell nothing about another department's customers.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import django_filters
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from rest_framework.exceptions import ValidationError

from contacts.account_selectors import account_prefetch, contact_account_seen
from contacts.consent_selectors import consent_shown, consents_visible
from contacts.errors import InvalidIdentity
from contacts.models import Consent, Contact, DepartmentAccount, DepartmentContact, Identity
from contacts.normalise import normalise_identity, phone_region_of
from contacts.supplies import as_supplied, supplied_by
from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from departments.models import Department

# Query parameters that filter on one attribute: `attr.tier=gold` or `attributes__tier=gold`.
ATTRIBUTE_FILTER_PREFIXES = ("attr.", "attributes__")


def contacts_visible(*, actor: Actor) -> QuerySet[Contact]:
    """Every person the actor may see, with what the actor may see of them prefetched:
    `seen_views` (their departments' views; a CX lead: all, by department) and `seen_identities`
    (the identities their departments supplied; a CX lead: all), in the order they were added."""
    views = DepartmentContact.objects.select_related("department").order_by("department__name", "pk")
    identities = Identity.objects.order_by("pk")
    contacts = Contact.objects.all()
    if not actor.is_cx_lead:
        departments = actor.department_ids
        views = views.filter(department_id__in=departments)
        # Shown as the department wrote it: the stored spelling is the first supplier's.
        identities = identities.filter(supplied_by(departments)).annotate(given_as=as_supplied(departments))
        # Exists, not a join: a person known by two of the actor's departments is listed once.
        contacts = contacts.filter(
            Exists(DepartmentContact.objects.filter(contact=OuterRef("pk"), department_id__in=departments))
        )
    return contacts.prefetch_related(
        *account_prefetch(actor=actor),
        Prefetch("department_links", queryset=views, to_attr="seen_views"),
        Prefetch("identities", queryset=identities, to_attr="seen_identities"),
    )


def contact_get(
    *, actor: Actor, public_id: uuid.UUID | str | None = None, contact_id: int | None = None
) -> Contact:
    """One person the actor may see, by the id the API shows (`public_id`) or, inside the project,
    by primary key; raises NotFound otherwise, the same for "not yours" and "nobody"."""
    contacts = contacts_visible(actor=actor)
    if public_id is not None:
        wanted = _uuid_or_none(public_id)
        contact = contacts.filter(public_id=wanted).first() if wanted else None
        if wanted and (contact is None or contact.merged_into_id) and (merged := merged_public_id(wanted)):
            contact = contacts.filter(public_id=merged).first()
    else:
        contact = contacts.filter(pk=contact_id).first()
    if contact is None:
        raise NotFound(f"Contact {public_id if public_id is not None else contact_id} not found.")
    return contact


def merged_public_id(public_id: uuid.UUID, *, hops: int = 10) -> uuid.UUID | None:
    """The id of the record a merged-away record now lives in (following merges of merges), or
    None. An integration that stored the old id keeps working: the caller then sees the survivor
    only if it may, as for any id. Asked only after a miss, so a lookup that finds its contact pays
    nothing for it."""
    survivor = None
    for _ in range(hops):
        following = (
            Contact.objects.filter(public_id=public_id, merged_into__isnull=False)
            .values_list("merged_into__public_id", flat=True)
            .first()
        )
        if following is None:
            return survivor
        survivor = public_id = following
    return survivor


def _uuid_or_none(value: uuid.UUID | str) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class ContactSeen:
    """A person as one actor sees them: a department, through its own view (its name for them, its
    attributes, notes, and the identities it supplied); a CX lead, whole (the person's own fields,
    every identity, every department's view)."""

    id: uuid.UUID
    name: str
    locale: str
    time_zone: str
    attributes: dict
    notes: str
    account: str | None
    identities: list[Identity]
    views: list[DepartmentContact]
    created_at: dt.datetime
    updated_at: dt.datetime


def contact_seen(contact: Contact, *, actor: Actor) -> ContactSeen:
    """`contact` (from contacts_visible, with its prefetches) as `actor` may see it."""
    views = contact.seen_views
    # The person's own fields for a CX lead; for a department, its view (a user of several
    # departments: the view most recently written).
    shown = contact if actor.is_cx_lead else max(views, key=lambda view: (view.updated_at, view.pk))
    return ContactSeen(
        id=contact.public_id,
        name=shown.name,
        locale=shown.locale,
        time_zone=shown.time_zone,
        attributes=shown.attributes,
        notes="" if actor.is_cx_lead else shown.notes,
        account=contact_account_seen(contact, actor=actor),
        identities=contact.seen_identities,
        views=views,
        created_at=shown.created_at,
        updated_at=shown.updated_at,
    )


def contact_list(*, actor: Actor, filters: Mapping[str, Any] | None = None) -> QuerySet[Contact]:
    """The people the actor may see, narrowed by `filters` (ContactFilter and attribute filters), in
    the order the actor's departments came to know them. Raises ValidationError (400) or
    InvalidIdentity (400) for a malformed filter."""
    filters = filters or {}
    contacts = contacts_visible(actor=actor)
    if actor.is_cx_lead:
        contacts = contacts.order_by("pk")
    else:
        # The order the department met them, not the order anyone did: the person's own id would
        # tell which of a department's contacts another department knew first.
        first_view = DepartmentContact.objects.filter(
            contact=OuterRef("pk"), department_id__in=actor.department_ids
        ).order_by("pk")
        contacts = contacts.annotate(known_as=Subquery(first_view.values("pk")[:1])).order_by("known_as")
    filterset = ContactFilter(data=filters, queryset=contacts, actor=actor)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return _attributes_filter(filterset.qs, filters, actor=actor)


def _in_utc(value: dt.datetime) -> dt.datetime:
    """`value` in UTC: PostgreSQL refuses offsets past ±15:59, which ISO 8601 allows; a moment past
    the calendar's ends in UTC is read as that end."""
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        edge = dt.datetime.max if value.year > 1 else dt.datetime.min
        return edge.replace(tzinfo=dt.UTC)


class ContactFilter(django_filters.FilterSet):
    """Filters by identity (compared normalised, as contacts are matched; a department's own
    identities only) and by the time the actor's departments came to know the person."""

    email = django_filters.CharFilter(method="filter_identity", label="Email address (normalised match).")
    phone = django_filters.CharFilter(method="filter_identity", label="Phone number (normalised match).")
    external_id = django_filters.CharFilter(
        method="filter_identity", label="External id, with external_source."
    )
    external_source = django_filters.CharFilter(
        method="filter_nothing", label="Source system of external_id."
    )
    account = django_filters.CharFilter(method="filter_account", label="External id of an account.")
    created_after = django_filters.IsoDateTimeFilter(method="filter_known_since")
    created_before = django_filters.IsoDateTimeFilter(method="filter_known_since")

    class Meta:
        model = Contact
        fields: list[str] = []

    def __init__(self, *args, actor: Actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor

    def filter_known_since(self, queryset: QuerySet[Contact], name: str, value) -> QuerySet[Contact]:
        lookup = "created_at__gte" if name == "created_after" else "created_at__lt"
        value = _in_utc(value)
        if self.actor.is_cx_lead:
            return queryset.filter(**{lookup: value})
        views = DepartmentContact.objects.filter(
            contact=OuterRef("pk"), department_id__in=self.actor.department_ids, **{lookup: value}
        )
        return queryset.filter(Exists(views))

    def _phone_region(self) -> str | None:
        """The region a national number is read in: the asking departments' own, when they agree."""
        if self.actor.is_cx_lead:
            return None
        regions = set(
            Department.objects.filter(pk__in=self.actor.department_ids).values_list("phone_region", flat=True)
        )
        return (phone_region_of(regions.pop()) or None) if len(regions) == 1 else None

    def filter_identity(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        kind = {"email": Identity.Kind.EMAIL, "phone": Identity.Kind.PHONE}.get(name, Identity.Kind.EXTERNAL)
        try:
            normalised = normalise_identity(kind, value, region=self._phone_region())
        except InvalidIdentity as error:
            raise InvalidIdentity(f"{name}: {error.message}", extra=error.extra) from error
        identities = Identity.objects.filter(contact=OuterRef("pk"), kind=kind, normalised=normalised)
        if not self.actor.is_cx_lead:
            identities = identities.filter(supplied_by(self.actor.department_ids))
        source = self.form.cleaned_data.get("external_source")
        if kind == Identity.Kind.EXTERNAL and source:
            identities = identities.filter(source=source.strip())
        return queryset.filter(Exists(identities))

    def filter_account(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        queryset = queryset.filter(account__external_id=value.strip())
        if self.actor.is_cx_lead:
            return queryset
        # An account the department did not name lists nobody, as one that does not exist.
        named = DepartmentAccount.objects.filter(
            account_id=OuterRef("account_id"), department_id__in=self.actor.department_ids
        )
        return queryset.filter(Exists(named))

    def filter_nothing(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        return queryset  # read by filter_identity


def _attributes_filter(
    contacts: QuerySet[Contact], filters: Mapping[str, Any], *, actor: Actor
) -> QuerySet[Contact]:
    """`attr.tier=gold`: a view's attributes contain {"tier": "gold"} (the actor's departments' views;
    a CX lead's: any view); a number or true/false also matches as such, since a query string cannot
    say which was meant. Served by the GIN index on the views' attributes."""
    views = DepartmentContact.objects.filter(contact=OuterRef("pk"))
    if not actor.is_cx_lead:
        views = views.filter(department_id__in=actor.department_ids)
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
        contacts = contacts.filter(Exists(views.filter(condition)))
    return contacts


def _json_scalar(value: str) -> int | float | bool | None:
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, int | float | bool) else None


def consent_list(*, actor: Actor, contact: Contact) -> list[Consent]:
    """The contact's consent records that concern the actor, oldest first, as the actor may see them
    (contacts.consent_selectors.consent_shown): their own departments' whole, every-department ones
    without note, recorder or exact time; never another department's. A CX lead sees all, whole."""
    consents = (
        Consent.objects.filter(contact=contact).select_related("department").order_by("created_at", "pk")
    )
    return [consent_shown(consent, actor=actor) for consent in consents_visible(consents, actor=actor)]
