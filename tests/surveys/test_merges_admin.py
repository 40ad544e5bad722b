"""Merging in the admin: a CX lead merges two contacts from the contact list through the merge
page's preview, and unmerges on the merge's page; a department owner only proposes, and the
proposal page shows nothing but their own view."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from contacts.models import ContactMerge, DuplicateSuggestion, Identity
from contacts.services import contact_upsert
from departments.actors import actor_for_user
from tests import factories
from tests.surveys.test_merges import invitation

pytestmark = pytest.mark.django_db

CONTACTS = reverse("admin:contacts_contact_changelist")


@pytest.fixture
def pair(support, marketing, alice, mallory):
    first, _ = contact_upsert(
        actor=actor_for_user(alice),
        department=support,
        identities=[("email", "", "ann@example.com")],
        name="Ann",
    )
    second, _ = contact_upsert(
        actor=actor_for_user(alice),
        department=support,
        identities=[("email", "", "ann@work.example")],
        name="Ann E.",
    )
    # Marketing knows the second record under a name support must never see.
    contact_upsert(
        actor=actor_for_user(mallory),
        department=marketing,
        identities=[("email", "", "ann@work.example")],
        name="Marketing's Secret Name",
    )
    return first.contact, second.contact


def test_a_cx_lead_merges_from_the_contact_list_and_unmerges(lead_client, pair, support):
    factories.FrequencyRuleFactory(name="Once a month", max_touches=1, window=dt.timedelta(days=30))
    for contact in pair:
        invitation(contact, factories.SurveyFactory(department=support), status="sent", at=timezone.now())
    selected = {"action": "merge_selected", ACTION_CHECKBOX_NAME: [contact.pk for contact in pair]}

    to_merge_page = lead_client.post(CONTACTS, selected)
    assert to_merge_page.status_code == 302
    page = lead_client.get(to_merge_page["Location"])

    text = page.content.decode()
    assert f"{pair[1]}</strong> is merged into <strong>{pair[0]}" in text
    assert "Once a month: 2 touches in one 30-day window, 1 allowed" in text
    assert not ContactMerge.objects.exists()  # the preview wrote nothing

    refused = lead_client.post(
        to_merge_page["Location"], {"survivor": pair[0].public_id, "absorbed": pair[1].public_id}
    )
    assert "say why" in refused.content.decode() and not ContactMerge.objects.exists()

    merged = lead_client.post(
        to_merge_page["Location"],
        {"survivor": pair[0].public_id, "absorbed": pair[1].public_id, "reason": "Same person, two emails"},
        follow=True,
    )
    merge = ContactMerge.objects.get()
    assert merged.redirect_chain[-1][0] == reverse("admin:contacts_contactmerge_change", args=[merge.pk])
    assert Identity.objects.filter(contact=pair[0]).count() == 2
    assert "Unmerge" in merged.content.decode() and "Once a month: 2 of 1" in merged.content.decode()

    lead_client.post(reverse("admin:contacts_contactmerge_unmerge", args=[merge.pk]))

    merge.refresh_from_db()
    assert merge.unmerged_at is not None
    assert Identity.objects.filter(contact=pair[1]).count() == 1


def test_a_department_owner_proposes_and_sees_only_their_view(alice_client, pair, support):
    selected = {"action": "propose_merge", ACTION_CHECKBOX_NAME: [contact.pk for contact in pair]}
    actions = alice_client.get(CONTACTS).context["action_form"].fields["action"].choices
    assert "merge_selected" not in dict(actions) and "propose_merge" in dict(actions)

    page = alice_client.post(CONTACTS, selected)

    text = page.content.decode()
    assert "Ann" in text and "Ann E." in text
    assert "Secret" not in text and "ann@" not in text

    sent = alice_client.post(
        CONTACTS, {**selected, "department": support.pk, "reason": "Same Ann"}, follow=True
    )

    assert "went to the CX leads" in sent.content.decode()
    suggestion = DuplicateSuggestion.objects.get()
    assert (suggestion.proposed_by_department, suggestion.reason, suggestion.status) == (
        support,
        "Same Ann",
        "open",
    )
    # The merge pages are the CX leads'.
    assert alice_client.get(reverse("admin:contacts_contactmerge_add")).status_code == 403
    assert alice_client.get(reverse("admin:contacts_contactmerge_changelist")).status_code == 403
