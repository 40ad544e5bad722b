"""Closing the loop: a detractor's answer opens one follow-up for the department that asked; the
department works it in the admin (scoped: another department's item is a 404); CX leads write the
follow-up rules. A follow-up is a personal reply: the frequency rules hold it back only when a CX
lead says so, for every follow-up (company settings) or for a rule's own."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from departments.actors import actor_for_user
from departments.models import CompanySettings
from results.detractors import Detractor
from results.errors import FollowUpBlockedByFrequencyRule
from results.filters import ResultsFilter
from results.models import FollowUp, FollowUpRule
from results.selectors.followups import open_follow_ups_count
from results.services.followups import follow_up_open, follow_up_update
from surveys.errors import AlreadyAnswered
from surveys.public.responses import response_submit
from tests import factories
from tests.results.drill import answered, feedback_survey
from tests.surveys.public.pages import invitation_with_link

DAY = dt.timedelta(days=1)


@pytest.fixture
def survey(support):
    return feedback_survey(support)


def follow_up_of(response) -> FollowUp | None:
    return FollowUp.objects.filter(response=response).first()


# Which answers open a follow-up


@pytest.mark.parametrize(
    ("nps", "csat", "opens"),
    [
        (0, 5, True),
        (6, 5, True),  # the highest NPS detractor
        (7, 5, False),  # the lowest passive
        (10, 5, False),
        (9, 1, True),
        (9, 2, True),  # the highest dissatisfied CSAT
        (9, 3, False),
    ],
)
def test_a_detractor_answer_opens_a_follow_up_for_the_department(survey, support, nps, csat, opens):
    response = answered(survey, nps=nps, csat=csat)

    follow_up = follow_up_of(response)
    assert (follow_up is not None) == opens
    if opens:
        assert follow_up.department == support
        assert follow_up.contact_id == response.contact_id
        assert follow_up.status == FollowUp.Status.OPEN
        assert not follow_up.waits_for_frequency_rules


def test_the_follow_up_names_the_first_detractor_answer(survey):
    response = answered(survey, nps=3, csat=1)

    follow_up = follow_up_of(response)
    assert follow_up.answer.question.kind == "nps"
    assert follow_up.answer.value_number == 3


def test_a_ces_answer_needs_a_cx_leads_rule(support):
    survey = factories.SurveyFactory(department=support, questions=[])
    factories.QuestionFactory(survey=survey, position=1, kind="ces", text="Was it easy?")

    def ces_answered(value):
        invitation, _ = invitation_with_link(survey, factories.known_contact(support))
        return response_submit(invitation=invitation, answers={1: value})

    assert follow_up_of(ces_answered(1)) is None
    FollowUpRule.objects.create(name="Hard work", question_kind="ces", max_value=2)

    assert follow_up_of(ces_answered(2)) is not None
    assert follow_up_of(ces_answered(3)) is None


def test_a_rule_for_one_survey_covers_its_versions_only(support):
    survey = feedback_survey(support)
    other = feedback_survey(support, name="Other")
    FollowUpRule.objects.create(name="Strict", question_kind="nps", max_value=8, survey=survey)
    next_version = feedback_survey(support, name="Support NPS v2")
    type(survey).objects.filter(pk=survey.pk).update(is_current=False)
    type(next_version).objects.filter(pk=next_version.pk).update(family_id=survey.family_id, version=2)
    next_version.refresh_from_db()

    assert follow_up_of(answered(survey, nps=8)) is not None
    assert follow_up_of(answered(next_version, nps=8)) is not None
    assert follow_up_of(answered(other, nps=8)) is None


def test_an_inactive_rule_opens_nothing(survey):
    FollowUpRule.objects.create(name="Off", question_kind="nps", max_value=8, is_active=False)

    assert follow_up_of(answered(survey, nps=8)) is None


# Exactly one per response


def test_a_retried_submit_never_opens_a_second_follow_up(survey, support):
    invitation, _ = invitation_with_link(survey, factories.known_contact(support))
    response = response_submit(invitation=invitation, answers={1: 2, 2: 1})

    with pytest.raises(AlreadyAnswered):
        response_submit(invitation=invitation, answers={1: 2, 2: 1})
    # And the service itself, called again for the same response (a retried task, a replay):
    again = follow_up_open(
        response_id=response.pk,
        department_id=response.department_id,
        contact_id=response.contact_id,
        detractor=Detractor(
            question_id=response.answers.first().question_id, waits_for_frequency_rules=False
        ),
        now=timezone.now(),
    )

    assert again is None
    assert FollowUp.objects.filter(response=response).count() == 1


def test_the_survey_page_opens_the_follow_up(client, survey, support, settings):
    settings.PUBLIC_RATE_LIMIT = "100000/minute"
    invitation, token = invitation_with_link(survey, factories.known_contact(support))

    page = client.post(f"/t/{token}", {"q1": "4", "q2": "4", "q3": "Nobody called back."})

    assert page.status_code == 303
    assert FollowUp.objects.get(response__invitation=invitation).answer.value_number == 4


# The dashboard's count


def test_open_follow_ups_are_counted_for_the_departments_the_viewer_sees(
    survey, alice, mallory, lead, marketing
):
    answered(survey, nps=1)
    closed = follow_up_of(answered(survey, nps=2))
    FollowUp.objects.filter(pk=closed.pk).update(status=FollowUp.Status.CLOSED)
    answered(feedback_survey(marketing, name="Marketing pulse"), nps=0)
    whole_year = ResultsFilter(start=timezone.localdate() - 365 * DAY, end=timezone.localdate())

    assert open_follow_ups_count(actor_for_user(alice), whole_year) == 1
    assert open_follow_ups_count(actor_for_user(mallory), whole_year) == 1
    assert open_follow_ups_count(actor_for_user(lead), whole_year) == 2
    last_year = ResultsFilter(start=timezone.localdate() - 730 * DAY, end=timezone.localdate() - 400 * DAY)
    assert open_follow_ups_count(actor_for_user(lead), last_year) == 0


# The admin


def change_url(follow_up: FollowUp) -> str:
    return f"/admin/results/followup/{follow_up.pk}/change/"


@pytest.fixture
def follow_up(survey):
    return follow_up_of(answered(survey, nps=2, comment="Still broken."))


def test_the_department_lists_its_follow_ups_and_no_one_elses(
    alice_client, mallory_client, lead_client, follow_up
):
    assert follow_up.contact.name in alice_client.get("/admin/results/followup/").content.decode()
    assert follow_up.contact.name in lead_client.get("/admin/results/followup/").content.decode()
    assert follow_up.contact.name not in mallory_client.get("/admin/results/followup/").content.decode()
    assert mallory_client.get(change_url(follow_up)).status_code == 404
    assert mallory_client.post(change_url(follow_up), {"status": "closed", "note": "x"}).status_code == 404
    follow_up.refresh_from_db()
    assert follow_up.status == FollowUp.Status.OPEN


def test_the_owner_closes_a_follow_up_with_a_note(alice_client, alice, follow_up):
    page = alice_client.post(
        change_url(follow_up), {"status": "closed", "owner": alice.pk, "note": "Called her, router replaced."}
    )

    assert page.status_code == 302
    follow_up.refresh_from_db()
    assert (follow_up.status, follow_up.owner, follow_up.note) == (
        "closed",
        alice,
        "Called her, router replaced.",
    )
    assert follow_up.closed_at is not None


def test_another_departments_person_cannot_own_the_follow_up(alice_client, mallory, follow_up):
    page = alice_client.post(change_url(follow_up), {"status": "open", "owner": mallory.pk, "note": ""})

    assert page.status_code == 200  # the form again, with the error
    assert "Select a valid choice" in page.content.decode()
    follow_up.refresh_from_db()
    assert follow_up.owner is None


def test_no_one_adds_or_deletes_follow_ups_in_the_admin(lead_client, follow_up):
    assert lead_client.get("/admin/results/followup/add/").status_code == 403
    assert (
        lead_client.post(f"/admin/results/followup/{follow_up.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )


def test_list_of_follow_ups_has_a_fixed_number_of_queries(
    alice_client, survey, django_assert_max_num_queries
):
    for nps in range(6):
        answered(survey, nps=nps)

    with django_assert_max_num_queries(13):  # 13: the header names the company
        page = alice_client.get("/admin/results/followup/")

    assert page.status_code == 200
    assert page.content.decode().count('class="field-trigger"') == 6


# Follow-ups and the frequency rules: a personal reply, not a survey, unless a CX lead caps it


@pytest.fixture
def monthly_rule(db):
    return factories.FrequencyRuleFactory(
        name="One survey per 30 days", max_touches=1, window=30 * dt.timedelta(days=1)
    )


ANSWERED_AT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def start(follow_up: FollowUp, *, by, at: dt.datetime) -> FollowUp:
    return follow_up_update(
        actor=actor_for_user(by), follow_up=follow_up, status="in_progress", owner_id=None, note="", now=at
    )


def test_by_default_a_detractors_follow_up_starts_while_a_rule_blocks_surveys(
    alice_client, survey, monthly_rule
):
    # The survey's own invitation is a touch inside the 30-day window: a survey now would be blocked.
    follow_up = follow_up_of(answered(survey, nps=2))
    assert not follow_up.waits_for_frequency_rules

    page = alice_client.get(change_url(follow_up)).content.decode()
    assert "Not held back: a follow-up is a personal reply" in page
    assert alice_client.post(change_url(follow_up), {"status": "in_progress", "note": ""}).status_code == 302
    follow_up.refresh_from_db()
    assert follow_up.status == FollowUp.Status.IN_PROGRESS


def test_with_the_cx_leads_cap_a_follow_up_waits_with_the_date_it_becomes_possible(
    alice_client, alice, survey, monthly_rule
):
    CompanySettings.objects.update_or_create(pk=1, defaults={"follow_ups_wait_for_frequency_rules": True})
    follow_up = follow_up_of(answered(survey, nps=2, at=ANSWERED_AT))

    with pytest.raises(FollowUpBlockedByFrequencyRule) as refused:
        start(follow_up, by=alice, at=ANSWERED_AT + 3 * DAY)

    assert "do not allow contacting this customer yet" in refused.value.message
    assert refused.value.extra["next_eligible_at"] == (ANSWERED_AT + 30 * DAY).isoformat()
    follow_up.refresh_from_db()
    assert follow_up.status == FollowUp.Status.OPEN
    # Once the window has passed it starts; closing without contacting was possible all along.
    assert start(follow_up, by=alice, at=ANSWERED_AT + 31 * DAY).status == FollowUp.Status.IN_PROGRESS


def test_with_the_cx_leads_cap_the_admin_refuses_the_start(alice_client, survey, monthly_rule):
    CompanySettings.objects.update_or_create(pk=1, defaults={"follow_ups_wait_for_frequency_rules": True})
    blocked = follow_up_of(answered(survey, nps=2))

    page = alice_client.post(change_url(blocked), {"status": "in_progress", "note": ""})

    assert page.status_code == 200
    assert "do not allow contacting this customer yet" in page.content.decode()
    blocked.refresh_from_db()
    assert blocked.status == FollowUp.Status.OPEN
    assert alice_client.post(change_url(blocked), {"status": "closed", "note": ""}).status_code == 302


def test_a_cx_leads_rule_can_make_its_own_follow_ups_wait(alice, survey, monthly_rule):
    FollowUpRule.objects.create(
        name="Passives, when the rules allow",
        question_kind="nps",
        max_value=8,
        waits_for_frequency_rules=True,
    )
    passive = follow_up_of(answered(survey, nps=8, at=ANSWERED_AT))
    detractor = follow_up_of(answered(survey, nps=2, at=ANSWERED_AT))  # the built-in threshold too

    assert passive.waits_for_frequency_rules
    with pytest.raises(FollowUpBlockedByFrequencyRule):
        start(passive, by=alice, at=ANSWERED_AT + DAY)
    assert not detractor.waits_for_frequency_rules
    assert start(detractor, by=alice, at=ANSWERED_AT + DAY).status == FollowUp.Status.IN_PROGRESS


def test_without_a_frequency_rule_a_capped_follow_up_starts_at_once(alice_client, follow_up):
    CompanySettings.objects.update_or_create(pk=1, defaults={"follow_ups_wait_for_frequency_rules": True})

    assert alice_client.post(change_url(follow_up), {"status": "in_progress", "note": ""}).status_code == 302
    follow_up.refresh_from_db()
    assert follow_up.status == FollowUp.Status.IN_PROGRESS


# Follow-up rules: CX leads write them


def test_only_cx_leads_write_follow_up_rules(alice_client, lead_client):
    rule = {"name": "CES", "is_active": "on", "question_kind": "ces", "max_value": "2"}

    assert alice_client.post("/admin/results/followuprule/add/", rule).status_code == 403
    assert alice_client.get("/admin/results/followuprule/").status_code == 200
    assert lead_client.post("/admin/results/followuprule/add/", rule).status_code == 302
    assert FollowUpRule.objects.get().max_value == 2


def test_a_cx_lead_makes_a_rules_follow_ups_wait_in_the_admin(lead_client):
    page = lead_client.get("/admin/results/followuprule/add/").content.decode()
    assert "Follow-ups wait for the survey frequency rules" in page
    assert "a personal reply, not a survey, and starts at once" in page  # the help text

    rule = {"name": "CES", "is_active": "on", "question_kind": "ces", "max_value": "2"}
    assert lead_client.post("/admin/results/followuprule/add/", rule).status_code == 302
    waiting = {**rule, "name": "CES, capped", "waits_for_frequency_rules": "on"}
    assert lead_client.post("/admin/results/followuprule/add/", waiting).status_code == 302

    assert dict(FollowUpRule.objects.values_list("name", "waits_for_frequency_rules")) == {
        "CES": False,
        "CES, capped": True,
    }


def test_owners_see_follow_up_rules_for_every_survey_and_their_own_not_anothers(
    alice_client, mallory_client, survey
):
    everywhere = FollowUpRule.objects.create(name="Every survey", question_kind="nps", max_value=6)
    supports = FollowUpRule.objects.create(name="Repairs", question_kind="nps", max_value=8, survey=survey)
    changelist = reverse("admin:results_followuprule_changelist")

    assert set(alice_client.get(changelist).context["cl"].result_list) == {everywhere, supports}
    theirs = mallory_client.get(changelist)
    assert list(theirs.context["cl"].result_list) == [everywhere]
    assert survey.name.encode() not in theirs.content
    assert (
        mallory_client.get(reverse("admin:results_followuprule_change", args=[supports.pk])).status_code
        == 404
    )
