"""Overrides (issue 15): a CX lead lets one send request, or named contacts in it, past a frequency rule
with a reason, approved by a second CX lead; the touches it lets through count for everyone else's
rules; each override is in the audit log and in the results' over-surveying figures."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from departments.actors import actor_for_user
from surveys.errors import InvalidOverride
from surveys.gatekeeper import overrides as overrides_module
from surveys.gatekeeper import send_requests as send_requests_module
from surveys.gatekeeper.overrides import override_approve, override_request
from surveys.gatekeeper.send_requests import send_request_screen
from surveys.gatekeeper.triggers import trigger_send
from surveys.models import Decision, FrequencyRule, Invitation, Override, SendRequest
from tests import factories

DAY = dt.timedelta(days=1)
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def second_lead(db):
    return factories.cx_lead(username="second-lead")


@pytest.fixture
def second_lead_api(second_lead) -> APIClient:
    client = APIClient()
    client.force_login(second_lead)
    return client


@pytest.fixture
def rules(support):
    """Support surveys a person at most once a week; the company at most twice a month."""
    weekly = factories.FrequencyRuleFactory(name="Support weekly", max_touches=1, window=7 * DAY,
                                            scope_department=support)  # fmt: skip
    monthly = factories.FrequencyRuleFactory(name="Company monthly", max_touches=2, window=30 * DAY)
    return weekly, monthly


@pytest.fixture
def bob(support, marketing):
    bob = factories.known_contact(support, email="bob@example.com")
    factories.DepartmentContactFactory(department=marketing, contact=bob)
    for identity in bob.identities.all():
        factories.DepartmentIdentityFactory(department=marketing, identity=identity)
    return bob


@pytest.fixture
def carol(support):
    return factories.known_contact(support, email="carol@example.com")


@pytest.fixture
def follow_up(support, rules, bob, carol, alice):
    """Support asked bob and carol two days ago; a follow-up request of theirs waits for screening."""
    factories.screened_request(support, now=NOW - 2 * DAY, earliest_send_at=NOW - 2 * DAY)
    return factories.SendRequestFactory(
        department=support, status="submitted", earliest_send_at=NOW, created_by=alice
    )


def approved(override: Override, by) -> Override:
    return override_approve(actor=actor_for_user(by), override=override)


def screened(send_request: SendRequest) -> SendRequest:
    return send_request_screen(send_request_id=send_request.pk, now=NOW)


def test_an_approved_override_lets_the_named_contacts_through_and_marks_their_decision(
    follow_up, rules, bob, carol, lead, second_lead
):
    weekly, _ = rules
    override = override_request(
        actor=actor_for_user(lead),
        send_request=follow_up,
        reason="Outage follow-up",
        rule=weekly,
        contacts=[bob],
    )
    approved(override, second_lead)

    screened(follow_up)

    bobs = Decision.objects.get(send_request=follow_up, contact=bob)
    assert (bobs.allowed, bobs.override_id, bobs.reason) == (True, override.pk, "")
    assert Invitation.objects.get(send_request=follow_up, contact=bob).status == "queued"
    carols = Decision.objects.get(send_request=follow_up, contact=carol)
    assert (carols.allowed, carols.rule_id) == (False, weekly.pk)  # not named: still refused
    follow_up.refresh_from_db()
    assert follow_up.screening_summary["allowed"] == 1
    assert follow_up.screening_summary["blocked"] == {"rule": 1}
    override.refresh_from_db()
    assert (override.applied_contacts, override.applied_at is not None) == (1, True)


def test_an_override_not_yet_approved_changes_nothing(follow_up, rules, bob, lead):
    override_request(actor=actor_for_user(lead), send_request=follow_up, reason="Outage", rule=rules[0])

    screened(follow_up)

    assert not Decision.objects.get(send_request=follow_up, contact=bob).allowed
    assert not Invitation.objects.filter(send_request=follow_up).exists()


def test_the_overridden_touch_counts_for_another_departments_later_trigger(
    follow_up, rules, bob, marketing, lead, second_lead
):
    approved(
        override_request(actor=actor_for_user(lead), send_request=follow_up, reason="Outage"), second_lead
    )
    screened(follow_up)

    survey = factories.SurveyFactory(department=marketing)
    later = trigger_send(
        department=marketing, survey=survey, channel="email", contact_id=bob.pk, now=NOW + DAY
    )

    # Two touches this month (the first request and the overridden one): the company rule refuses.
    assert not later.decision.allowed
    assert later.decision.rule_id == rules[1].pk
    assert later.invitation is None


def test_without_the_override_the_same_trigger_would_go_through(follow_up, rules, bob, marketing):
    screened(follow_up)

    survey = factories.SurveyFactory(department=marketing)
    later = trigger_send(
        department=marketing, survey=survey, channel="email", contact_id=bob.pk, now=NOW + DAY
    )

    assert later.decision.allowed


def test_a_contact_another_rule_still_refuses_stays_refused_and_the_decision_names_that_rule(
    support, marketing, bob, lead, second_lead, alice
):
    quarterly = factories.FrequencyRuleFactory(name="Support quarterly", max_touches=1, window=90 * DAY,
                                               scope_department=support)  # fmt: skip
    monthly = factories.FrequencyRuleFactory(name="Company monthly", max_touches=2, window=30 * DAY)
    factories.screened_request(support, now=NOW - 20 * DAY, earliest_send_at=NOW - 20 * DAY)
    factories.screened_request(marketing, now=NOW - 2 * DAY, earliest_send_at=NOW - 2 * DAY)
    request = factories.SendRequestFactory(department=support, status="submitted", created_by=alice)
    override = override_request(actor=actor_for_user(lead), send_request=request, reason="x", rule=quarterly)
    approved(override, second_lead)

    screened(request)

    decision = Decision.objects.get(send_request=request, contact=bob)
    assert (decision.allowed, decision.override_id) == (False, None)
    assert decision.rule_id == monthly.pk
    assert decision.next_eligible_at == NOW + 10 * DAY
    request.refresh_from_db()
    assert request.screening_summary["blocked_by_rule"] == {str(monthly.pk): 1}


def test_the_requester_cannot_approve_their_own_override(follow_up, lead, lead_api):
    override = override_request(actor=actor_for_user(lead), send_request=follow_up, reason="Outage")

    answer = lead_api.post(f"/api/v1/send-requests/{follow_up.public_id}/overrides/{override.pk}/approve")

    assert answer.status_code == 403
    assert answer.json()["code"] == "override_forbidden"
    assert not Override.objects.get(pk=override.pk).is_approved


def test_the_requests_creator_cannot_approve_an_override_of_it(support, rules, lead, second_lead):
    request = factories.SendRequestFactory(department=support, status="draft", created_by=second_lead)
    override = override_request(actor=actor_for_user(lead), send_request=request, reason="Outage")

    with pytest.raises(Exception, match="creator of the send request"):
        approved(override, second_lead)


def test_a_department_cannot_request_or_approve_an_override(follow_up, support_api, alice_client, lead):
    url = f"/api/v1/send-requests/{follow_up.public_id}/overrides"
    asked = support_api.post(url, {"reason": "We need it"}, format="json")
    override = override_request(actor=actor_for_user(lead), send_request=follow_up, reason="Outage")
    approving = support_api.post(f"{url}/{override.pk}/approve")

    assert (asked.status_code, asked.json()["code"]) == (403, "override_forbidden")
    assert (approving.status_code, approving.json()["code"]) == (403, "override_forbidden")
    assert Override.objects.count() == 1
    assert support_api.get(url).json()[0]["reason"] == "Outage"  # its own request's: readable


def test_another_department_does_not_find_the_request_or_its_overrides(follow_up, marketing_api, lead):
    override = override_request(actor=actor_for_user(lead), send_request=follow_up, reason="Outage")
    url = f"/api/v1/send-requests/{follow_up.public_id}/overrides"

    assert marketing_api.get(url).status_code == 404
    assert marketing_api.post(url, {"reason": "x"}, format="json").status_code in (403, 404)
    assert marketing_api.post(f"{url}/{override.pk}/approve").status_code in (403, 404)


def test_the_api_requests_and_approves_and_the_audit_log_has_both(
    follow_up, rules, bob, lead_api, second_lead_api
):
    url = f"/api/v1/send-requests/{follow_up.public_id}/overrides"
    weekly, _ = rules
    asked = lead_api.post(
        url,
        {"reason": "Outage follow-up", "rule": weekly.pk, "contacts": [str(bob.public_id)]},
        format="json",
    )
    assert asked.status_code == 201, asked.json()
    override_id = asked.json()["id"]

    approving = second_lead_api.post(f"{url}/{override_id}/approve")
    screened(follow_up)

    assert approving.status_code == 200
    assert approving.json()["approved_by"] == "second-lead"
    assert asked.json()["contacts"] == [str(bob.public_id)]
    actions = set(
        AuditEntry.objects.filter(object_type="surveys.override", object_id=str(override_id)).values_list(
            "action", flat=True
        )
    )
    assert actions == {"override_requested", "override_approved", "override_applied"}
    assert "bob@" not in str(list(AuditEntry.objects.values_list("summary", "details")))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "  "}, "reason"),
        ({"reason": "x", "contacts": ["7c8d9f7e-0000-4000-8000-000000000000"]}, "contacts"),
        ({"reason": "x", "contacts": [12]}, "contacts"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(follow_up, lead_api, body, field):
    answer = lead_api.post(f"/api/v1/send-requests/{follow_up.public_id}/overrides", body, format="json")

    assert answer.status_code == 400
    assert field in str(answer.json())
    assert not Override.objects.exists()


def test_an_unknown_rule_is_a_404(follow_up, lead_api):
    answer = lead_api.post(
        f"/api/v1/send-requests/{follow_up.public_id}/overrides",
        {"reason": "x", "rule": 999999},
        format="json",
    )

    assert answer.status_code == 404


def test_a_screened_request_takes_no_override(follow_up, lead, second_lead, lead_api):
    override = override_request(actor=actor_for_user(lead), send_request=follow_up, reason="Outage")
    screened(follow_up)

    asked = lead_api.post(
        f"/api/v1/send-requests/{follow_up.public_id}/overrides", {"reason": "late"}, format="json"
    )
    with pytest.raises(Exception, match="applies only before its screening"):
        approved(override, second_lead)

    assert asked.status_code == 400
    assert asked.json()["code"] == "invalid_override"


def test_the_database_refuses_an_override_approved_by_its_requester(follow_up, lead):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        Override.objects.create(send_request=follow_up, reason="x", requested_by=lead, approved_by=lead)


def test_the_rule_stays_unchanged_for_everyone(follow_up, rules, lead, second_lead):
    approved(
        override_request(actor=actor_for_user(lead), send_request=follow_up, reason="Outage"), second_lead
    )
    screened(follow_up)

    assert FrequencyRule.objects.filter(is_active=True).count() == 2
    assert set(FrequencyRule.objects.values_list("version", flat=True)) == {1}


# The results' over-surveying figures


def test_the_results_count_the_overridden_contacts_for_whom_may_see_them(
    follow_up, lead, second_lead, lead_api, support_api, marketing_api, alice_client
):
    approved(
        override_request(actor=actor_for_user(lead), send_request=follow_up, reason="Outage"), second_lead
    )
    screened(follow_up)

    figures = {
        who: client.get("/api/v1/results/summary").json()["overridden"]
        for who, client in (("lead", lead_api), ("support", support_api), ("marketing", marketing_api))
    }
    page = alice_client.get("/admin/results/").content.decode()

    assert figures == {"lead": 2, "support": 2, "marketing": 0}
    assert 'let <strong data-figure="overridden">2</strong> contacts past a frequency rule' in page


# The admin


def test_a_cx_lead_asks_in_the_admin_and_a_second_one_approves(
    follow_up, rules, bob, lead_client, second_lead
):
    weekly, _ = rules
    asked = lead_client.post(
        reverse("admin:surveys_override_add"),
        {
            "send_request": follow_up.pk,
            "rule": weekly.pk,
            "contact_ids": str(bob.public_id),
            "reason": "Outage",
        },
    )
    assert asked.status_code == 302, asked.context["adminform"].form.errors
    override = Override.objects.get()
    assert [contact.pk for contact in override.contacts.all()] == [bob.pk]

    changelist = reverse("admin:surveys_override_changelist")
    own = lead_client.post(changelist, {"action": "approve", "_selected_action": [override.pk]}, follow=True)
    assert not Override.objects.get().is_approved
    assert "its requester cannot approve it" in own.content.decode()

    second = Client()
    second.force_login(second_lead)
    second.post(changelist, {"action": "approve", "_selected_action": [override.pk]})
    screened(follow_up)

    assert Decision.objects.get(send_request=follow_up, contact=bob).override_id == override.pk


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"reason": ""}, "reason", "This field is required."),
        ({"contact_ids": "not-an-id"}, "contact_ids", "Each line must be a contact's API id."),
        (
            {"contact_ids": "7c8d9f7e-0000-4000-8000-000000000000"},
            "contact_ids",
            "the request's department knows",
        ),
    ],
)
def test_the_admin_form_says_what_is_wrong(follow_up, lead_client, fields, field, message):
    answer = lead_client.post(
        reverse("admin:surveys_override_add"), {"send_request": follow_up.pk, "reason": "Outage", **fields}
    )

    assert answer.status_code == 200
    assert message in " ".join(answer.context["adminform"].form.errors[field])
    assert not Override.objects.exists()


def test_a_department_owner_only_reads_its_own_requests_overrides(
    follow_up, lead, alice_client, mallory_client
):
    override_request(actor=actor_for_user(lead), send_request=follow_up, reason="Outage of the zyxwa line")
    changelist = reverse("admin:surveys_override_changelist")

    assert alice_client.get(reverse("admin:surveys_override_add")).status_code == 403
    assert "Outage of the zyxwa line" in alice_client.get(changelist).content.decode()
    assert "zyxwa" not in mallory_client.get(changelist).content.decode()


def test_the_decision_explains_the_override_in_the_admin(follow_up, lead, second_lead, alice_client, bob):
    override = override_request(actor=actor_for_user(lead), send_request=follow_up, reason="Outage")
    approved(override, second_lead)
    screened(follow_up)

    page = alice_client.get(reverse("admin:surveys_decision_changelist")).content.decode()

    assert "Allowed past a frequency rule by a CX lead&#x27;s override." in page


# The race of an approval with the screening


def _unlocked(send_request: SendRequest) -> SendRequest:
    """_request_lock without its lock: what the race test shows going wrong."""
    found = SendRequest.objects.get(pk=send_request.pk)
    overrides_module._open_check(found)
    return found


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lock", [True, False])
def test_an_approval_racing_the_screening_is_applied_or_refused_never_lost(
    follow_up, bob, lead, second_lead, lock, monkeypatch
):
    """The approval lands while the screening, past reading the overrides, has not committed yet. With
    the request's row lock it waits and is refused (the request is screened); without, it is approved
    and never applied: a CX lead would believe the contacts were let through."""
    override = override_request(actor=actor_for_user(lead), send_request=follow_up, reason="Outage")
    overrides_read = threading.Event()
    apply = overrides_module.overrides_apply

    def apply_then_linger(*args, **kwargs):
        applied = apply(*args, **kwargs)
        overrides_read.set()
        time.sleep(0.5)  # the screening's transaction stays open: the approval comes now
        return applied

    monkeypatch.setattr(send_requests_module, "overrides_apply", apply_then_linger)
    if not lock:
        monkeypatch.setattr(overrides_module, "_request_lock", _unlocked)
    outcome: dict[str, object] = {}

    def approve() -> None:
        overrides_read.wait(10)
        try:
            approved(Override.objects.get(pk=override.pk), second_lead)
            outcome["approval"] = "approved"
        except InvalidOverride:
            outcome["approval"] = "refused"
        finally:
            connection.close()

    approver = threading.Thread(target=approve)
    approver.start()
    screened(follow_up)
    approver.join(10)

    applied = Decision.objects.filter(send_request=follow_up, override=override).exists()
    if lock:
        assert (outcome["approval"], applied) == ("refused", False)
    else:
        assert (outcome["approval"], applied) == ("approved", False)  # approved, and lost
