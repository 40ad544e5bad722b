"""Drill-down pages: single responses with their answers and comments (filtered, a page at a time),
one contact's timeline, and the read-only response admin. A department owner sees their own
department's part only; another department's customer is a 404."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from contacts.models import Consent
from departments.actors import actor_for_user
from results.filters import ResultsFilter
from results.selectors.responses import response_page
from surveys.gatekeeper.triggers import trigger_send
from surveys.public.responses import response_submit
from tests import factories
from tests.results.drill import answered, feedback_survey

RESPONSES = "/admin/results/responses/"
DAY = dt.timedelta(days=1)
NOW = timezone.now().replace(microsecond=0)


def timeline_url(contact) -> str:
    return f"/admin/results/contacts/{contact.pk}/timeline/"


@pytest.fixture
def support_survey(support):
    return feedback_survey(support, name="Router repair check")


@pytest.fixture
def marketing_survey(marketing):
    return feedback_survey(marketing, name="Spring Campaign Pulse")


# Responses


def test_the_owner_sees_their_responses_with_answers_and_comments(alice_client, support_survey):
    response = answered(support_survey, nps=4, csat=2, comment="The engineer never came.")

    page = alice_client.get(RESPONSES)

    content = page.content.decode()
    assert page.status_code == 200
    assert "The engineer never came." in content
    assert "Router repair check" in content
    assert timeline_url(response.contact) in content
    # The follow-up the detractor's answer opened, one click away.
    assert f"/admin/results/followup/{response.follow_up.pk}/change/" in content


def test_departments_never_see_each_others_responses(
    alice_client, mallory_client, lead_client, support_survey, marketing_survey
):
    answered(support_survey, comment="Support secret comment")
    answered(marketing_survey, comment="Marketing secret comment")

    alice = alice_client.get(RESPONSES).content.decode()
    mallory = mallory_client.get(RESPONSES).content.decode()
    lead = lead_client.get(RESPONSES).content.decode()

    assert "Support secret comment" in alice and "Marketing secret comment" not in alice
    assert "Marketing secret comment" in mallory and "Support secret comment" not in mallory
    assert "Support secret comment" in lead and "Marketing secret comment" in lead


def test_another_departments_filter_value_shows_nothing_of_it(mallory_client, support, support_survey):
    answered(support_survey, comment="Support secret comment")

    page = mallory_client.get(RESPONSES, {"department": support.pk, "survey": support_survey.pk})

    content = page.content.decode()
    assert "Select a valid choice" in content
    assert "Support secret comment" not in content


def test_the_filter_narrows_the_responses(alice_client, support, support_survey):
    other = feedback_survey(support, name="Billing check")
    answered(support_survey, comment="About the router")
    answered(other, comment="About the bill")
    answered(support_survey, comment="Long ago", at=NOW - 30 * DAY)

    by_survey = alice_client.get(RESPONSES, {"survey": other.pk}).content.decode()
    by_period = alice_client.get(
        RESPONSES, {"start": (NOW - 40 * DAY).date(), "end": (NOW - 20 * DAY).date()}
    )

    assert "About the bill" in by_survey and "About the router" not in by_survey
    assert "Long ago" in by_period.content.decode() and "About the bill" not in by_period.content.decode()


def test_a_period_ending_before_it_starts_is_explained(alice_client):
    page = alice_client.get(RESPONSES, {"start": "2026-05-02", "end": "2026-05-01"})

    assert "The end of the period is before its start." in page.content.decode()


def test_pages_follow_each_other_without_gaps_or_repeats(alice, support_survey):
    # Three responses share one second: the page boundary falls between them.
    responses = [answered(support_survey, at=NOW - DAY) for _ in range(3)]
    responses += [answered(support_survey, at=NOW - k * DAY) for k in (2, 3)]
    actor = actor_for_user(alice)
    whole_year = ResultsFilter(start=(NOW - 365 * DAY).date(), end=NOW.date())

    seen, cursor = [], None
    for _ in range(3):
        page = response_page(actor=actor, results_filter=whole_year, cursor=cursor, size=2)
        seen += [response.pk for response in page.responses]
        cursor = page.next_cursor
    expected = sorted(responses, key=lambda r: (r.submitted_at, r.pk), reverse=True)

    assert seen == [response.pk for response in expected]
    assert cursor is None


def test_the_older_link_leads_to_the_next_page(alice_client, support_survey, monkeypatch):
    monkeypatch.setattr("results.selectors.responses.PAGE_SIZE", 2)
    for k in range(3):
        answered(support_survey, comment=f"comment {k}", at=NOW - k * DAY)

    first = alice_client.get(RESPONSES)
    cursor = first.context["page"].next_cursor
    second = alice_client.get(RESPONSES, {"after": cursor}).content.decode()

    assert f"after={cursor}" in first.content.decode()
    assert "comment 2" in second and "comment 0" not in second


def test_the_responses_page_has_a_fixed_number_of_queries(
    alice_client, support_survey, django_assert_max_num_queries
):
    def page_queries() -> None:
        with django_assert_max_num_queries(11):  # 11: the header names the company
            assert alice_client.get(RESPONSES).status_code == 200

    answered(support_survey)
    page_queries()
    for _ in range(15):
        answered(support_survey, nps=2, comment="again")
    page_queries()


def test_the_pages_need_a_staff_login_with_the_right_to_see_responses(client, db):
    assert client.get(RESPONSES).status_code == 302
    assert client.get("/admin/results/export/responses.csv").status_code == 302
    client.force_login(factories.UserFactory(username="no-role"))  # staff, but neither role
    assert client.get(RESPONSES).status_code == 403
    assert client.get("/admin/results/export/responses.csv").status_code == 403


# The contact timeline


@pytest.fixture
def ann(support, marketing):
    """Known to both departments."""
    contact = factories.known_contact(support, email="ann@example.com", name="Ann")
    factories.DepartmentContactFactory(department=marketing, contact=contact)
    return contact


@pytest.fixture
def ann_history(ann, support, marketing, support_survey, marketing_survey):
    """Marketing surveyed Ann 20 days ago (she answered) and she opted out of marketing's surveys;
    support's trigger 10 days ago was allowed and she answered; she snoozed everything 2 days ago."""
    answered(
        marketing_survey, ann, nps=8, comment="Marketing comment: loved the spring offer", at=NOW - 20 * DAY
    )
    factories.ConsentFactory(contact=ann, department=marketing, created_at=NOW - 19 * DAY)
    result = trigger_send(
        department=support, survey=support_survey, channel="email", contact_id=ann.pk, now=NOW - 10 * DAY
    )
    invitation = result.invitation
    # Decided and sent 10 days ago (the gatekeeper stamps the decision with the clock).
    type(result.decision).objects.filter(pk=result.decision.pk).update(decided_at=NOW - 10 * DAY)
    type(invitation).objects.filter(pk=invitation.pk).update(status="sent", sent_at=NOW - 10 * DAY)
    invitation.refresh_from_db()
    response_submit(invitation=invitation, answers={1: 3, 2: 2, 3: "Router still broken"}, now=NOW - 9 * DAY)
    factories.ConsentFactory(
        contact=ann, kind=Consent.Kind.SNOOZE, until=NOW + 30 * DAY, created_at=NOW - 2 * DAY
    )


def test_the_cx_lead_sees_everything_in_time_order(lead_client, ann, ann_history):
    page = lead_client.get(timeline_url(ann))

    entries = page.context["timeline"].entries
    assert [entry.at for entry in entries] == sorted(entry.at for entry in entries)
    kinds = [entry.kind for entry in entries]
    assert kinds == [
        "invitation",
        "response",
        "consent",
        "decision",
        "invitation",
        "response",
        "follow_up",
        "consent",
    ]
    content = page.content.decode()
    assert "Spring Campaign Pulse" in content and "loved the spring offer" in content
    assert "Router still broken" in content
    assert "{#" not in content and "#}" not in content  # the template's own comment stays hidden


def test_the_owner_sees_their_part_and_only_that_another_department_was_in_touch(
    alice_client, ann, ann_history
):
    page = alice_client.get(timeline_url(ann))

    content = page.content.decode()
    assert page.status_code == 200
    assert "Router still broken" in content
    assert "Contacted by another department" in content
    for secret in ("Marketing", "Spring Campaign Pulse", "loved the spring offer"):
        assert secret not in content
    entries = page.context["timeline"].entries
    assert [entry.kind for entry in entries] == [
        "elsewhere",  # marketing's invitation, as a moment only
        "decision",
        "invitation",
        "response",
        "follow_up",
        "consent",  # the snooze of everything; marketing's own opt-out is not shown
    ]
    assert entries[0].department == "" and entries[0].detail == ""
    # Marketing's touch is shown to the hour only: minutes would tie it to one of marketing's sends.
    assert entries[0].at == (NOW - 20 * DAY).replace(minute=0, second=0, microsecond=0)


def test_the_owner_sees_only_the_identities_their_department_gave(alice_client, ann, marketing):
    factories.DepartmentIdentityFactory(
        department=marketing,
        identity=factories.IdentityFactory(contact=ann, kind="phone", value="+4915112345678"),
    )

    content = alice_client.get(timeline_url(ann)).content.decode()

    assert "+4915112345678" not in content


def test_a_contact_the_department_does_not_know_is_a_404(
    alice_client, mallory_client, marketing, marketing_survey
):
    stranger = factories.known_contact(marketing, name="Stranger")
    answered(marketing_survey, stranger)

    assert alice_client.get(timeline_url(stranger)).status_code == 404
    assert mallory_client.get(timeline_url(stranger)).status_code == 200
    assert alice_client.get("/admin/results/contacts/999999/timeline/").status_code == 404


def test_the_timeline_has_a_fixed_number_of_queries(
    alice_client, ann, ann_history, django_assert_max_num_queries
):
    with django_assert_max_num_queries(17):  # 17: the header names the company
        assert alice_client.get(timeline_url(ann)).status_code == 200


# The response admin: read-only history, scoped


def test_the_response_admin_is_read_only_and_scoped(alice_client, mallory_client, support_survey):
    response = answered(support_survey, comment="Admin comment")
    url = f"/admin/surveys/response/{response.pk}/change/"

    page = alice_client.get(url)
    assert page.status_code == 200
    assert "Admin comment" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert mallory_client.get(url).status_code == 404
    assert url not in mallory_client.get("/admin/surveys/response/").content.decode()
    assert url in alice_client.get("/admin/surveys/response/").content.decode()
