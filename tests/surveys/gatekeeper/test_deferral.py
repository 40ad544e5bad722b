"""Defer until eligible (issue 14): a request with a send window plans each contact blocked by a
rule or a snooze for when the block ends inside the window, instead of refusing them. The planned
send is a reservation (it counts for everyone's rules), is dispatched when its time comes, and is
released when the request is cancelled."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from contacts.models import Consent
from departments.actors import actor_for_user
from surveys.delivery.dispatch import invitations_dispatch_due
from surveys.gatekeeper.send_requests import send_request_cancel, send_request_screen
from surveys.gatekeeper.triggers import trigger_send
from surveys.models import Decision, Invitation
from tests import factories

DAY = dt.timedelta(days=1)
NOW = timezone.now().replace(microsecond=0)


def touch(contact, survey, *, at: dt.datetime) -> Invitation:
    history = factories.SendRequestFactory(department=survey.department, survey=survey, status="completed")
    return Invitation.objects.create(
        send_request=history,
        survey=survey,
        survey_family_id=survey.family_id,
        department=survey.department,
        survey_kind=survey.kind,
        contact=contact,
        channel="email",
        status="sent",
        touched_at=at,
    )


@pytest.fixture
def planned(support, marketing):
    """Under "1 per 7 days", support asks ann (free), bob (marketing surveyed him 3 days ago: free
    in 4 days) and cy (snoozed for 20 days: past the 14-day window), over a 14-day window."""
    factories.FrequencyRuleFactory(name="Weekly", max_touches=1, window=7 * DAY)
    ann, bob, cy = (
        factories.known_contact(support, email=f"{name}@example.com") for name in ("ann", "bob", "cy")
    )
    touch(bob, factories.SurveyFactory(department=marketing), at=NOW - 3 * DAY)
    factories.ConsentFactory(contact=cy, kind=Consent.Kind.SNOOZE, until=NOW + 20 * DAY, created_at=NOW - DAY)
    request = factories.SendRequestFactory(
        department=support, status="submitted", earliest_send_at=NOW, latest_send_at=NOW + 14 * DAY
    )
    send_request_screen(send_request_id=request.pk, now=NOW)
    request.refresh_from_db()
    return request, ann, bob, cy


def test_a_contact_blocked_now_is_planned_for_when_the_block_ends_inside_the_window(planned):
    request, ann, bob, cy = planned

    decisions = {d.contact_id: (d.allowed, d.reason, d.next_eligible_at) for d in request.decisions.all()}
    assert decisions == {
        ann.pk: (True, "", None),
        bob.pk: (True, "rule", NOW + 4 * DAY),  # planned: allowed, and why it waits
        cy.pk: (False, "snoozed", NOW + 20 * DAY),  # past the window: refused
    }
    invitations = {i.contact_id: i.touched_at for i in Invitation.objects.filter(send_request=request)}
    assert invitations == {ann.pk: NOW, bob.pk: NOW + 4 * DAY}
    summary = request.screening_summary
    assert (summary["allowed"], summary["planned"], summary["blocked"]) == (1, 1, {"snoozed": 1})
    assert summary["planned_by_day"] == {(NOW + 4 * DAY).date().isoformat(): 1}


def test_a_planned_send_is_dispatched_when_its_time_comes(planned):
    request, ann, bob, _cy = planned

    invitations_dispatch_due(now=NOW)
    handed = set(
        Invitation.objects.filter(send_request=request, dispatched_at__isnull=False).values_list(
            "contact_id", flat=True
        )
    )
    assert handed == {ann.pk}
    request.refresh_from_db()
    assert request.status == "sending"  # not completed while bob's send is still planned

    invitations_dispatch_due(now=NOW + 4 * DAY)
    assert Invitation.objects.get(send_request=request, contact=bob).dispatched_at == NOW + 4 * DAY


def test_a_planned_send_is_a_reservation_for_everyone_s_rules(planned, marketing):
    """Marketing may not take bob's week: in 4 days support's planned send holds it."""
    _request, _ann, bob, _cy = planned
    survey = factories.SurveyFactory(department=marketing)
    for identity in bob.identities.all():  # marketing has bob's address too
        factories.DepartmentIdentityFactory(department=marketing, identity=identity)

    outcome = trigger_send(
        department=marketing, survey=survey, channel="email", contact_id=bob.pk, now=NOW + 5 * DAY
    )

    assert not outcome.decision.allowed
    assert outcome.decision.next_eligible_at == NOW + 11 * DAY  # a week after support's planned send


def test_cancelling_the_request_releases_its_planned_sends(planned, alice):
    request, _ann, bob, _cy = planned

    send_request_cancel(send_request=request, actor=actor_for_user(alice))

    assert Invitation.objects.get(send_request=request, contact=bob).status == "cancelled"


def test_the_owner_reads_why_a_contact_is_planned_for_later(planned, support_api):
    request, _ann, bob, _cy = planned

    body = support_api.get(f"/api/v1/send-requests/{request.public_id}/decisions?reason=rule").json()

    [decision] = body["results"]
    assert decision["contact"] == str(bob.public_id)
    assert decision["explanation"].startswith("Planned for ")
    assert "Contacted by another department 3 days ago" in decision["explanation"]


def test_a_request_without_a_latest_send_time_plans_nobody(support, marketing):
    factories.FrequencyRuleFactory(name="Weekly", max_touches=1, window=7 * DAY)
    bob = factories.known_contact(support, email="bob@example.com")
    touch(bob, factories.SurveyFactory(department=marketing), at=NOW - 3 * DAY)

    request = factories.screened_request(support, now=NOW, earliest_send_at=NOW)

    assert not Decision.objects.get(send_request=request).allowed
    assert not Invitation.objects.filter(send_request=request).exists()
