"""Every "no" is explained to the department that asked, without telling it anything about another
department: not its name, not its survey (PRODUCT.md §4.4)."""

import datetime as dt

import pytest
from django.utils import timezone

from contacts.models import Consent, Identity
from departments.actors import actor_for_user
from surveys.gatekeeper.decisions import decision_explain, decision_list, decisions_explained
from surveys.gatekeeper.frequency_rules import frequency_rule_create
from surveys.gatekeeper.send_requests import send_request_create, send_request_screen, send_request_submit
from surveys.models import Decision, Invitation
from tests import factories

NOW = timezone.now().replace(microsecond=0)
if NOW.minute == NOW.second == 0:
    NOW += dt.timedelta(seconds=1)
DAY = dt.timedelta(days=1)


def day(moment: dt.datetime) -> str:
    return f"{moment.day} {moment:%b %Y}"


def hour_up(moment: dt.datetime) -> dt.datetime:
    """What a department is shown of a time: the next full hour (NOW is never on one: see below)."""
    return moment.replace(minute=0, second=0) + dt.timedelta(hours=1)


@pytest.fixture
def secret_survey(marketing):
    return factories.SurveyFactory(department=marketing, name="Project Falcon pricing study")


def touch(contact, survey, *, at: dt.datetime, status: str = "sent") -> None:
    history = factories.SendRequestFactory(department=survey.department, survey=survey, status="completed")
    Invitation.objects.create(
        send_request=history,
        survey=survey,
        survey_family_id=survey.family_id,
        department=survey.department,
        survey_kind=survey.kind,
        contact=contact,
        channel="email",
        status=status,
        touched_at=at,
    )


@pytest.fixture
def screened(alice, lead, support, secret_survey):
    """Support's request screened against a 30-day rule, with one contact for each kind of "no"."""
    frequency_rule_create(
        actor=actor_for_user(lead), name="One survey per 30 days", max_touches=1, window=30 * DAY
    )
    frequency_rule_create(
        actor=actor_for_user(lead),
        name="Settle in first",
        max_touches=5,
        window=DAY,
        new_contact_grace=14 * DAY,
    )
    own_survey = factories.SurveyFactory(department=support, name="Support CSAT")
    contacts = {
        name: factories.known_contact(support, created_at=NOW - 365 * DAY)
        for name in ("by_marketing", "by_support", "opted_out", "snoozed", "invited", "planned")
    }
    contacts["new"] = factories.known_contact(support, created_at=NOW - 4 * DAY)
    contacts["no_email"] = factories.ContactFactory(created_at=NOW - 365 * DAY)
    factories.IdentityFactory(
        contact=contacts["no_email"], kind=Identity.Kind.PHONE, value="+4930555", normalised="+4930555"
    )
    factories.DepartmentContactFactory(department=support, contact=contacts["no_email"])
    touch(contacts["by_marketing"], secret_survey, at=NOW - 12 * DAY)
    touch(contacts["by_support"], own_survey, at=NOW - 3 * DAY)
    touch(contacts["planned"], secret_survey, at=NOW + 2 * DAY + dt.timedelta(hours=1), status="queued")
    factories.ConsentFactory(contact=contacts["opted_out"], created_at=NOW - DAY)
    factories.ConsentFactory(
        contact=contacts["snoozed"], kind=Consent.Kind.SNOOZE, until=NOW + 10 * DAY, created_at=NOW - DAY
    )
    survey = factories.SurveyFactory(department=support, name="Support NPS")
    touch(contacts["invited"], survey, at=NOW - 60 * DAY, status="delivered")
    actor = actor_for_user(alice)
    request = send_request_create(
        actor=actor, department=support, survey=survey, channel="email", audience_kind="all_known", now=NOW
    )
    send_request_submit(send_request=request, actor=actor, now=NOW)
    send_request_screen(send_request_id=request.pk, now=NOW)
    return request, contacts


def explained(request, contacts, name: str, viewer) -> str:
    decision = Decision.objects.select_related("send_request", "rule").get(
        send_request=request, contact=contacts[name]
    )
    return decision_explain(decision, viewer=viewer)


def test_another_departments_touch_is_explained_without_naming_it(screened, alice):
    request, contacts = screened

    text = explained(request, contacts, "by_marketing", actor_for_user(alice))

    assert text == (
        f"Contacted by another department 12 days ago (rule “One survey per 30 days”); "
        f"eligible from {day(hour_up(NOW + 18 * DAY))}."
    )


def test_the_own_departments_touch_says_so(screened, alice):
    request, contacts = screened

    text = explained(request, contacts, "by_support", actor_for_user(alice))

    assert text == (
        f"Contacted by your department 3 days ago (rule “One survey per 30 days”); "
        f"eligible from {day(hour_up(NOW + 27 * DAY))}."
    )


def test_a_planned_send_of_another_department_is_explained_as_planned(screened, alice):
    request, contacts = screened

    text = explained(request, contacts, "planned", actor_for_user(alice))

    assert text.startswith(
        "Survey already planned by another department in 2 days (rule “One survey per 30 days”)"
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("opted_out", "Opted out."),
        ("snoozed", f"Snoozed until {day(hour_up(NOW + 10 * DAY))}."),
        ("no_email", "No email address."),
        ("invited", "Already has an open invitation for this survey."),
        (
            "new",
            "New contact: rule “Settle in first” waits 14 days after a contact becomes known; "
            f"eligible from {day(hour_up(NOW + 10 * DAY))}.",
        ),
    ],
)
def test_other_reasons(screened, alice, name, expected):
    request, contacts = screened

    assert explained(request, contacts, name, actor_for_user(alice)) == expected


def test_no_explanation_names_another_department_or_its_survey(
    screened, alice, lead, marketing, secret_survey
):
    request, contacts = screened

    for viewer in (actor_for_user(alice), actor_for_user(lead)):
        decisions = decisions_explained(decision_list(actor=viewer, send_request=request), viewer=viewer)
        texts = [decision.explanation for decision in decisions]
        assert len(texts) == len(contacts)
        for text in texts:
            for secret in (marketing.name, marketing.slug, secret_survey.name, "Falcon"):
                assert secret.lower() not in text.lower()


def test_a_cx_lead_reads_the_requesting_department_instead_of_yours(screened, lead):
    request, contacts = screened

    assert explained(request, contacts, "by_support", actor_for_user(lead)).startswith(
        "Contacted by the requesting department 3 days ago"
    )
