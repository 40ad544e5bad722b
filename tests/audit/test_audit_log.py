"""The audit log: who changed a frequency rule, recorded consent or erased a person, and when; every
admin action beside it; read-only, and for CX leads only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.urls import reverse

from audit.models import AuditEntry
from contacts.consent_services import consent_record
from departments.actors import actor_for_user
from surveys.gatekeeper.frequency_rules import frequency_rule_create, frequency_rule_update
from surveys.public.preferences import consent_unsubscribe
from tests import factories
from tests.surveys.gatekeeper.test_frequency_rules_admin_api import rule_form


@pytest.fixture
def rule(lead):
    return frequency_rule_create(
        actor=actor_for_user(lead), name="One a month", max_touches=1, window=dt.timedelta(days=30)
    )


def test_rule_creation_and_changes_are_audited_with_who_and_what(lead, rule):
    frequency_rule_update(actor=actor_for_user(lead), rule=rule, max_touches=2, name="Two a month")
    frequency_rule_update(actor=actor_for_user(lead), rule=rule, max_touches=2)  # no change: no entry

    entries = list(AuditEntry.objects.filter(object_type="surveys.frequencyrule").order_by("pk"))
    assert [(e.action, e.actor, e.user_id) for e in entries] == [
        ("rule_created", f"user:{lead.pk}", lead.pk),
        ("rule_changed", f"user:{lead.pk}", lead.pk),
    ]
    assert entries[1].details["changed"] == ["max_touches", "name"]
    assert entries[1].details["version"] == 2
    assert entries[1].summary == "'Two a month' version 2: max_touches, name"


def test_consent_from_staff_api_keys_and_customers_is_audited_without_the_note(alice, support):
    contact = factories.known_contact(support, email="ann@example.com", name="Ann Example")
    consent_record(
        actor=actor_for_user(alice), contact=contact, kind="opt_out", department=support, channel="sms",
        source="admin", note="Ann Example asked on the phone",
    )  # fmt: skip
    invitation = factories.screened_request(support).invitations.get(contact=contact)
    consent_unsubscribe(invitation=invitation)

    staff, customer = AuditEntry.objects.filter(action="consent_recorded").order_by("pk")
    assert staff.actor == f"user:{alice.pk}"
    assert staff.summary == f"opt_out (admin) for department {support.pk} on sms"
    assert customer.actor == f"customer (invitation #{invitation.pk})"
    assert customer.summary == "opt_out (unsubscribe_link) for every department on every channel"
    for entry in (staff, customer):
        assert entry.object_id == str(contact.pk)
        assert "Ann" not in entry.summary + str(entry.details)


def test_consent_through_the_api_is_audited_as_the_api_key(support_api, support):
    contact = factories.known_contact(support)

    response = support_api.post(
        f"/api/v1/contacts/{contact.public_id}/consents",
        {"kind": "opt_out", "source": "api", "department": "support"},
        format="json",
    )

    assert response.status_code == 201
    assert AuditEntry.objects.get(action="consent_recorded").actor.startswith("api-key:")


def test_a_cx_lead_reads_the_audit_log_in_the_admin_and_cannot_change_it(lead_client, rule):
    entry = AuditEntry.objects.get()

    listed = lead_client.get(reverse("admin:audit_auditentry_changelist"))
    shown = lead_client.get(reverse("admin:audit_auditentry_change", args=[entry.pk]))
    changed = lead_client.post(reverse("admin:audit_auditentry_change", args=[entry.pk]), {"summary": "x"})
    deleted = lead_client.post(reverse("admin:audit_auditentry_delete", args=[entry.pk]), {"post": "yes"})

    assert listed.status_code == 200 and "One a month" in listed.content.decode()
    assert shown.status_code == 200
    assert changed.status_code == 403 and deleted.status_code == 403
    assert lead_client.get(reverse("admin:audit_auditentry_add")).status_code == 403
    entry.refresh_from_db()
    assert entry.summary == "'One a month' version 1"


def test_department_owners_do_not_see_the_audit_log(alice_client, rule):
    assert alice_client.get(reverse("admin:audit_auditentry_changelist")).status_code == 403
    assert alice_client.get(reverse("admin:audit_adminaction_changelist")).status_code == 403
    assert b"Audit log" not in alice_client.get("/admin/").content


def test_admin_actions_are_listed_for_cx_leads_beside_the_audit_entries(lead_client, lead):
    response = lead_client.post(reverse("admin:surveys_frequencyrule_add"), rule_form(name="Weekly cap"))
    assert response.status_code == 302

    action = LogEntry.objects.get()
    listed = lead_client.get(reverse("admin:audit_adminaction_changelist"))
    audited = AuditEntry.objects.get()

    assert (action.user_id, action.action_flag, action.object_repr) == (lead.pk, ADDITION, "Weekly cap")
    assert listed.status_code == 200 and "Weekly cap" in listed.content.decode()
    assert (audited.action, audited.user_id) == ("rule_created", lead.pk)


def test_history_cannot_be_changed_or_deleted_through_the_admin_even_by_a_cx_lead(lead_client, support):
    factories.known_contact(support)
    invitation = factories.screened_request(support).invitations.get()
    consent = factories.ConsentFactory(contact=invitation.contact)

    for model, obj in (("surveys_invitation", invitation), ("contacts_consent", consent)):
        for view in ("change", "delete"):
            response = lead_client.post(reverse(f"admin:{model}_{view}", args=[obj.pk]), {"post": "yes"})
            assert response.status_code == 403, (model, view)
    assert not LogEntry.objects.exists()
    invitation.refresh_from_db()
    consent.refresh_from_db()
