"""Burden (issue 16): a survey's weight in minutes (set, or estimated from its questions), stored
on each invitation when it is reserved; a frequency rule may count minutes instead of touches;
the invitation's "takes about N minutes" says the same estimate."""

import datetime as dt
from dataclasses import replace

import pytest
from django.core import mail
from django.utils import timezone

from surveys.delivery.sending import invitations_send_batch
from surveys.gatekeeper import rules
from surveys.gatekeeper.triggers import trigger_send
from surveys.models import Survey, burden_estimate
from tests import factories

DAY = dt.timedelta(days=1)
QUARTER = 90 * DAY


@pytest.fixture(autouse=True)
def no_quiet_hours(settings):
    # Tests run at any hour; quiet hours have tests of their own (test_quiet_hours.py).
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = "00:00"


def survey_with(department, questions: int, *, burden: int | None = None, name: str = "Study") -> Survey:
    survey = factories.SurveyFactory(department=department, name=name, questions=[])
    for position in range(1, questions + 1):
        factories.QuestionFactory(survey=survey, position=position)
    if burden is not None:
        Survey.objects.filter(pk=survey.pk).update(burden_weight=burden)
        survey.burden_weight = burden
    return survey


@pytest.mark.parametrize(
    ("questions", "minutes"), [(0, 1), (1, 1), (5, 1), (6, 2), (9, 2), (10, 3), (40, 10)]
)
def test_four_questions_take_about_a_minute(questions, minutes):
    assert burden_estimate(questions) == minutes


def test_an_invitation_keeps_the_burden_of_its_survey_when_reserved(support):
    ann = factories.known_contact(support, email="ann@example.com")
    estimated = trigger_send(
        department=support, survey=survey_with(support, 40), channel="email", contact_id=ann.pk
    ).invitation
    set_by_hand = trigger_send(
        department=support, survey=survey_with(support, 40, burden=25), channel="email", contact_id=ann.pk
    ).invitation

    assert (estimated.weight, set_by_hand.weight) == (10, 25)


def test_a_rule_counting_minutes_blocks_a_short_survey_after_a_long_study(support, marketing):
    factories.FrequencyRuleFactory(
        name="Ten minutes a quarter", max_touches=10, window=QUARTER, counts="weight"
    )
    factories.FrequencyRuleFactory(name="Three a quarter", max_touches=3, window=QUARTER)
    ann = factories.known_contact(support, email="ann@example.com")
    factories.DepartmentContactFactory(department=marketing, contact=ann)
    factories.DepartmentIdentityFactory(department=marketing, identity=ann.identities.get())
    studied = timezone.now() - 10 * DAY
    study = trigger_send(
        department=marketing,
        survey=survey_with(marketing, 36),
        channel="email",
        contact_id=ann.pk,
        now=studied,
    )
    assert study.decision.allowed and study.invitation.weight == 9

    two_minutes = trigger_send(
        department=support, survey=survey_with(support, 7), channel="email", contact_id=ann.pk
    )
    one_minute = trigger_send(
        department=support, survey=survey_with(support, 1), channel="email", contact_id=ann.pk
    )

    assert (two_minutes.decision.reason, two_minutes.decision.rule.name) == ("rule", "Ten minutes a quarter")
    assert two_minutes.decision.next_eligible_at == studied + QUARTER
    assert one_minute.decision.allowed, "9 + 1 minutes is within 10"


def test_a_survey_longer_than_the_rule_allows_is_never_eligible(support):
    factories.FrequencyRuleFactory(
        name="Five minutes a quarter", max_touches=5, window=QUARTER, counts="weight"
    )
    ann = factories.known_contact(support, email="ann@example.com")

    long = trigger_send(
        department=support, survey=survey_with(support, 40), channel="email", contact_id=ann.pk
    )

    assert (long.decision.allowed, long.decision.reason, long.decision.next_eligible_at) == (
        False,
        "rule",
        None,
    )


@pytest.mark.parametrize(
    ("questions", "says"), [(1, "takes about a minute."), (40, "takes about 10 minutes.")]
)
def test_the_invitation_says_how_long_the_survey_takes(support, questions, says):
    ann = factories.known_contact(support, email="ann@example.com")
    invitation = trigger_send(
        department=support, survey=survey_with(support, questions), channel="email", contact_id=ann.pk
    ).invitation

    invitations_send_batch(invitation_ids=[invitation.pk])

    [message] = mail.outbox
    assert says in message.body
    assert says in message.alternatives[0][0]


# The pure policy (surveys/gatekeeper/rules.py): a rule counting weight, and account mates' touches

AT = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


def verdict(rule: rules.Rule, touches: list[rules.Touch], *, weight: int = 1) -> rules.Verdict:
    send = rules.Send(department_id=1, survey_kind="relationship", channel="email", at=AT, weight=weight)
    return rules.rules_verdict([rule], send=send, touches=touches, contact_known_since=AT - 1000 * DAY)


def touch(days_ago: int, *, weight: int = 1, mate: bool = False) -> rules.Touch:
    return rules.Touch(AT - days_ago * DAY, 2, "relationship", "email", weight=weight, mate=mate)


TEN_MINUTES = rules.Rule(id=1, version=1, max_touches=10, window=QUARTER, counts="weight")


@pytest.mark.parametrize(
    ("weights", "send", "allowed", "eligible_in_days"),
    [
        ([9], 1, True, None),  # 9 + 1 fits 10
        ([9], 2, False, 80),  # until the 9 minutes 10 days ago leave the window
        ([3, 4, 3], 1, False, 60),  # 10 already: until the oldest (30 days ago) leaves
        ([5, 5], 1, False, 70),  # ... until the older of the two (20 days ago) leaves
        ([], 11, False, None),  # longer than the rule allows on its own: never
    ],
)
def test_a_rule_counting_minutes(weights, send, allowed, eligible_in_days):
    touches = [touch(10 * (len(weights) - index), weight=weight) for index, weight in enumerate(weights)]

    result = verdict(TEN_MINUTES, touches, weight=send)

    assert result.allowed is allowed
    expected = AT + eligible_in_days * DAY if eligible_in_days is not None else None
    assert result.next_eligible_at == (None if allowed else expected)


def test_only_a_rule_per_account_counts_the_accounts_other_people():
    colleague = [touch(3, mate=True)]
    per_contact = rules.Rule(id=1, version=1, max_touches=1, window=30 * DAY)

    assert verdict(per_contact, colleague).allowed
    blocked = verdict(replace(per_contact, per_account=True), colleague)
    assert (blocked.allowed, blocked.next_eligible_at) == (False, AT + 27 * DAY)
