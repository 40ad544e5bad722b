"""Approval of send requests above an audience size (issue 15): screened requests past the threshold
wait, their invitations reserved and not sent, until a CX lead approves (they are sent) or rejects
(they are cancelled and released); the owner is told on the request's page and by email. Through
the services, the API and the admin; triggers are never held, only capped per day."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from departments.actors import actor_for_user
from departments.models import CompanySettings
from surveys.delivery.dispatch import invitations_dispatch_due
from surveys.errors import ApprovalForbidden, InvalidStatusTransition
from surveys.gatekeeper.approvals import send_request_approve, send_request_reject
from surveys.gatekeeper.send_requests import TRANSITIONS, send_request_cancel, send_request_screen
from surveys.models import Approval, Invitation, SendRequest
from tests import factories
from tests.api import assert_error

SEND_REQUESTS = "/api/v1/send-requests"
Status = SendRequest.Status


@pytest.fixture
def survey(support):
    return factories.SurveyFactory(department=support, name="Support NPS")


@pytest.fixture
def customers(support):
    return [factories.known_contact(support, email=f"c{n}@example.com") for n in range(3)]


def company_threshold(threshold: int | None) -> None:
    CompanySettings.objects.update_or_create(pk=1, defaults={"approval_threshold": threshold})


def screened(survey, owner) -> SendRequest:
    """A request to every contact survey's department knows, created by `owner`, screened for real."""
    send_request = factories.SendRequestFactory(
        department=survey.department, survey=survey, status=Status.SUBMITTED, created_by=owner
    )
    return send_request_screen(send_request_id=send_request.pk)


@pytest.fixture
def held(survey, customers, alice):
    company_threshold(2)
    return screened(survey, alice)


def queued(send_request) -> int:
    return Invitation.objects.filter(send_request=send_request, status="queued").count()


# The state machine


def test_a_request_above_the_threshold_waits_with_its_invitations_reserved_and_unsent(held):
    assert held.status == Status.AWAITING_APPROVAL
    assert held.screening_summary["allowed"] == 3
    assert queued(held) == 3, "the screening reserved them"
    approval = Approval.objects.get(send_request=held)
    assert (approval.state, approval.reasons, approval.audience, approval.threshold) == (
        "pending",
        ["size"],
        3,
        2,
    )

    assert invitations_dispatch_due() == 0

    held.refresh_from_db()
    assert held.status == Status.AWAITING_APPROVAL
    assert not Invitation.objects.filter(send_request=held, dispatched_at__isnull=False).exists()


def test_a_request_at_the_threshold_is_screened_and_sent_as_before(survey, customers, alice):
    company_threshold(3)

    send_request = screened(survey, alice)

    assert send_request.status == Status.SCREENED
    assert not Approval.objects.exists()
    assert invitations_dispatch_due() == 3


def test_a_department_threshold_comes_before_the_company_one(survey, customers, alice, support):
    company_threshold(100)
    support.approval_threshold = 2
    support.save()
    assert screened(survey, alice).status == Status.AWAITING_APPROVAL

    company_threshold(1)
    support.approval_threshold = 50
    support.save()
    again = factories.SurveyFactory(department=support)
    assert screened(again, alice).status == Status.SCREENED


def test_the_transition_map_allows_only_approve_reject_or_cancel_from_awaiting_approval():
    assert TRANSITIONS[Status.SUBMITTED] >= {Status.SCREENED, Status.AWAITING_APPROVAL}
    assert TRANSITIONS[Status.AWAITING_APPROVAL] == {Status.SCREENED, Status.CANCELLED}
    assert Status.AWAITING_APPROVAL not in TRANSITIONS[Status.SCREENED]


def test_approving_sends_the_reserved_invitations_and_emails_the_owner(
    held, lead, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send_request_approve(send_request=held, actor=actor_for_user(lead), comment="Go ahead")

    held.refresh_from_db()
    assert held.status == Status.SCREENED
    approval = Approval.objects.get(send_request=held)
    assert (approval.state, approval.comment, approval.decided_by) == ("approved", "Go ahead", lead)
    assert invitations_dispatch_due() == 3
    [email] = mail.outbox
    assert email.to == ["alice@staff.example.com"]
    assert email.subject == "Approved: your send request for “Support NPS”"
    assert "Go ahead" in email.body


def test_rejecting_cancels_the_request_and_releases_its_invitations(
    held, lead, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send_request_reject(send_request=held, actor=actor_for_user(lead), comment="Too many at once")

    held.refresh_from_db()
    assert held.status == Status.CANCELLED
    assert queued(held) == 0
    assert Invitation.objects.filter(send_request=held, status="cancelled").count() == 3
    assert invitations_dispatch_due() == 0
    [email] = mail.outbox
    assert email.subject.startswith("Rejected:")
    assert "Too many at once" in email.body and "nothing was sent" in email.body


def test_a_request_is_decided_once(held, lead):
    actor = actor_for_user(lead)
    send_request_approve(send_request=held, actor=actor)

    with pytest.raises(InvalidStatusTransition):
        send_request_reject(send_request=held, actor=actor, comment="Changed my mind")
    with pytest.raises(InvalidStatusTransition):
        send_request_approve(send_request=held, actor=actor)
    assert Approval.objects.get(send_request=held).state == "approved"


def test_a_request_not_yet_screened_cannot_be_approved_past_its_screening(survey, lead):
    submitted = factories.SendRequestFactory(department=survey.department, survey=survey, status="submitted")

    with pytest.raises(InvalidStatusTransition):
        send_request_approve(send_request=submitted, actor=actor_for_user(lead))

    submitted.refresh_from_db()
    assert submitted.status == Status.SUBMITTED


def test_a_stale_copy_cannot_reject_a_request_approved_meanwhile(held, lead):
    stale = SendRequest.objects.get(pk=held.pk)
    send_request_approve(send_request=held, actor=actor_for_user(lead))

    with pytest.raises(InvalidStatusTransition):
        send_request_reject(send_request=stale, actor=actor_for_user(lead), comment="No")

    assert queued(held) == 3


def test_the_owner_may_still_cancel_a_request_awaiting_approval(held, alice):
    send_request_cancel(send_request=held, actor=actor_for_user(alice))

    assert held.status == Status.CANCELLED
    assert queued(held) == 0


def test_a_department_owner_cannot_approve_their_own_request(held, alice):
    with pytest.raises(ApprovalForbidden):
        send_request_approve(send_request=held, actor=actor_for_user(alice))
    held.refresh_from_db()
    assert held.status == Status.AWAITING_APPROVAL


# The API


def approve_url(send_request, action="approve") -> str:
    return f"{SEND_REQUESTS}/{send_request.public_id}/{action}"


def test_api_approve_works_for_a_cx_lead(held, lead_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = lead_api.post(approve_url(held), {"comment": "Fine"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "screened"
    assert body["approval"]["state"] == "approved"
    assert body["approval"]["comment"] == "Fine"
    assert body["approval"]["decided_by"] == "lead"
    assert body["approval"]["reasons"] == [
        {"reason": "size", "label": "Audience above the approval threshold"}
    ]
    assert len(mail.outbox) == 1


def test_api_reject_needs_a_comment(held, lead_api):
    body = assert_error(
        lead_api.post(approve_url(held, "reject"), {}, format="json"), 400, "invalid_approval"
    )
    assert body["extra"] == {"field": "comment"}

    response = lead_api.post(approve_url(held, "reject"), {"comment": "Not this week"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert response.json()["approval"]["comment"] == "Not this week"


def test_api_the_owner_sees_the_state_and_the_comment(held, lead, support_api):
    send_request_reject(send_request=held, actor=actor_for_user(lead), comment="Wait for the survey freeze")

    body = support_api.get(f"{SEND_REQUESTS}/{held.public_id}").json()

    assert body["status"] == "cancelled"
    assert body["approval"]["state"] == "rejected"
    assert body["approval"]["comment"] == "Wait for the survey freeze"


def test_api_a_department_key_cannot_approve_or_reject(held, support_api):
    for action in ("approve", "reject"):
        assert_error(support_api.post(approve_url(held, action), {"comment": "x"}, format="json"), 403)
    held.refresh_from_db()
    assert held.status == Status.AWAITING_APPROVAL


def test_api_another_department_gets_404_as_for_a_missing_request(held, marketing_api):
    for action in ("approve", "reject"):
        assert_error(marketing_api.post(approve_url(held, action), {"comment": "x"}, format="json"), 404)


def test_api_wrong_method_missing_request_and_wrong_state(held, lead_api, survey, customers, alice):
    assert lead_api.get(approve_url(held)).status_code == 405
    missing = f"{SEND_REQUESTS}/00000000-0000-4000-8000-000000000000/approve"
    assert_error(lead_api.post(missing, {}, format="json"), 404)
    company_threshold(None)
    running = screened(factories.SurveyFactory(department=survey.department), alice)
    assert_error(lead_api.post(approve_url(running), {}, format="json"), 409, "invalid_status_transition")
    assert_error(lead_api.post(approve_url(held), {"comment": 5 * "long " * 300}, format="json"), 400)


def test_api_list_filters_requests_awaiting_approval(held, lead_api):
    response = lead_api.get(SEND_REQUESTS, {"status": "awaiting_approval"})

    assert [row["id"] for row in response.json()["results"]] == [str(held.public_id)]


# The admin


def page(send_request) -> str:
    return reverse("admin:surveys_sendrequest_preflight", args=[send_request.pk])


def test_admin_a_cx_lead_approves_with_a_comment(held, lead_client, django_capture_on_commit_callbacks):
    assert 'id="approval-form"' in lead_client.get(page(held)).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = lead_client.post(
            reverse("admin:surveys_sendrequest_approve", args=[held.pk]), {"comment": "Approved for Q3"}
        )

    assert response.status_code == 302
    held.refresh_from_db()
    assert held.status == Status.SCREENED
    assert mail.outbox[0].to == ["alice@staff.example.com"]
    shown = lead_client.get(page(held)).content.decode()
    assert "Approved: its invitations are sent as planned" in shown


def test_admin_a_cx_lead_rejects_and_the_owner_reads_why(held, lead_client, alice_client):
    lead_client.post(
        reverse("admin:surveys_sendrequest_reject", args=[held.pk]), {"comment": "Budget freeze"}
    )

    held.refresh_from_db()
    assert held.status == Status.CANCELLED
    shown = alice_client.get(page(held)).content.decode()
    assert "Rejected" in shown and "Budget freeze" in shown
    assert 'id="approval-form"' not in shown


def test_admin_a_reject_without_comment_is_refused_with_a_message(held, lead_client):
    response = lead_client.post(
        reverse("admin:surveys_sendrequest_reject", args=[held.pk]), {"comment": ""}, follow=True
    )

    assert "say why the request is rejected" in response.content.decode()
    held.refresh_from_db()
    assert held.status == Status.AWAITING_APPROVAL


def test_admin_the_owner_sees_the_wait_but_cannot_decide(held, alice_client, mallory_client):
    shown = alice_client.get(page(held)).content.decode()
    assert "Awaiting approval" in shown and 'id="approval-form"' not in shown

    response = alice_client.post(
        reverse("admin:surveys_sendrequest_approve", args=[held.pk]), {"comment": ""}
    )

    assert response.status_code == 403
    assert (
        mallory_client.post(reverse("admin:surveys_sendrequest_approve", args=[held.pk])).status_code == 404
    )
    held.refresh_from_db()
    assert held.status == Status.AWAITING_APPROVAL


# Triggers: never held, capped per day


TRIGGERS = "/api/v1/triggers"


def trigger(client, survey, email: str):
    body = {
        "survey": survey.pk,
        "channel": "email",
        "contact": {"identities": [{"kind": "email", "value": email}]},
    }
    return client.post(TRIGGERS, body, format="json")


def test_triggers_are_never_held_for_approval(support_api, survey):
    company_threshold(0)

    response = trigger(support_api, survey, "ann@example.com")

    assert response.status_code == 201, response.content
    assert SendRequest.objects.get().status == Status.SCREENED
    assert not Approval.objects.exists()


def test_a_daily_trigger_cap_refuses_triggers_past_it_until_the_next_day(
    support_api, marketing_api, support, survey, marketing
):
    support.daily_trigger_cap = 2
    support.save()
    other = factories.SurveyFactory(department=marketing)
    start = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)

    with time_machine.travel(start, tick=False):
        made = [trigger(support_api, survey, f"p{n}@example.com").status_code for n in range(2)]
        refused = assert_error(trigger(support_api, survey, "p3@example.com"), 429, "trigger_cap_reached")
        assert trigger(marketing_api, other, "p4@example.com").status_code == 201, "other departments: no cap"
    with time_machine.travel(start + dt.timedelta(days=1), tick=False):
        next_day = trigger(support_api, survey, "p3@example.com").status_code

    assert made == [201, 201]
    assert refused["message"].startswith("The department's daily trigger cap (2) is reached for 2026-03-02")
    assert next_day == 201
    assert SendRequest.objects.filter(department=support).count() == 3, "the refused trigger left nothing"
