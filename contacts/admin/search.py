"""Finding rows by their contact in the admin, as the user sees the contact: a department owner by
the names their departments' views give the person and the identities their departments supplied;
a CX lead also by the person's own name and every identity.

Django's own search (`search_fields = ["contact__name"]`) would read the person's own fields and
every department's identities, so a search box would answer "does anybody know this email?".
"""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.utils.text import smart_split, unescape_string_literal

from contacts.errors import InvalidIdentity
from contacts.models import DepartmentContact, Identity
from contacts.normalise import normalise_email, normalise_phone
from contacts.supplies import as_supplied, supplied_by
from departments.actors import Actor
from departments.admin_scoping import admin_actor

SEARCH_HELP = "Name, email address, phone number or external id (also matched normalised)."


def contact_search(search_term: str, *, actor: Actor, contact_path: str = "") -> Q:
    """Rows whose contact `actor` finds by `search_term`: each word in a name or an identity the
    actor sees; or the whole term as an identity's normalised form ("Anna.M@GMail.com",
    "030 1234567" find what imports would match). `contact_path`: how a row reaches its contact
    ("" for a contact itself, "contact" for a decision)."""
    contact = OuterRef(contact_path or "pk")
    views = DepartmentContact.objects.filter(contact=contact)
    identities = Identity.objects.filter(contact=contact)
    if actor.is_cx_lead:
        identities = identities.annotate(spelling=F("value"))
    else:
        views = views.filter(department_id__in=actor.department_ids)
        identities = identities.filter(supplied_by(actor.department_ids)).annotate(
            spelling=as_supplied(actor.department_ids)
        )
    condition = Q()
    for word in _words(search_term):
        found = Exists(views.filter(name__icontains=word)) | Exists(
            identities.filter(Q(spelling__icontains=word) | Q(normalised__icontains=word))
        )
        if actor.is_cx_lead:
            found |= Q(**{f"{contact_path}__name__icontains" if contact_path else "name__icontains": word})
        condition &= found
    normalised = _search_term_normalised(search_term)
    if normalised:
        condition |= Exists(identities.filter(normalised__in=normalised))
    return condition


def _words(search_term: str) -> list[str]:
    """The words of a search, "quoted phrases" kept together, as Django's admin search splits them."""
    words = []
    for bit in smart_split(search_term):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
            bit = unescape_string_literal(bit)
        if bit.strip():
            words.append(bit)
    return words


def _search_term_normalised(search_term: str) -> list[str]:
    """The search term as a normalised email or phone number, if it reads as one."""
    term = search_term.strip()
    if not term or len(term) > 320:  # the longest identity there is
        return []
    forms_of_term = []
    for normalise in (normalise_email, normalise_phone):
        try:
            forms_of_term.append(normalise(term))
        except InvalidIdentity:
            continue
    return forms_of_term


class ContactSearchAdmin:
    """Mix into a ModelAdmin whose rows name a contact (before it): its search box finds rows by
    their contact as the user sees the contact (contact_search), and by `other_search_fields` of
    the row itself (a follow-up's note)."""

    contact_path = "contact"
    other_search_fields: list[str] = []
    # Turns the search box (and autocomplete) on; get_search_results does the searching, since
    # Django's own search on "contact__name" would read the person's own name.
    search_fields = ["contact"]
    search_help_text = SEARCH_HELP

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        if not search_term.strip():
            return queryset, False
        condition = contact_search(search_term, actor=admin_actor(request), contact_path=self.contact_path)
        for field in self.other_search_fields:
            condition |= Q(**{f"{field}__icontains": search_term.strip()})
        # Exists conditions, no joins: no row is listed twice.
        return queryset.filter(condition), False
