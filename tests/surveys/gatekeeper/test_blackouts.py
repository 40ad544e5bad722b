"""Blackouts (issue 16): POST /api/v1/blackouts and /api/v1/blackouts/{external_id}/close.

While a blackout is open no department may survey its contact, or any contact of its account; once
closed, not until its tail has passed, and then when the frequency rules allow too. Opening and
closing are idempotent by the opener's external id. Another department learns the kind of event
from the decision, never its content, its external id or who opened it.
"""

import datetime as dt

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from contacts.consent import ConsentVerdict
from contacts.models import Account
from surveys.gatekeeper import rules
from surveys.gatekeeper.triggers import trigger_send
from surveys.models import Blackout, Decision, Invitation
from tests import factories
from tests.api import assert_error

BLACKOUTS = "/api/v1/blackouts"
ELIGIBILITY = "/api/v1/eligibility"
TRIGGERS = "/api/v1/triggers"
ANN = "ann@example.com"
DAY = dt.timedelta(days=1)


@pytest.fixture
def ann(support, marketing):
    """A person support and marketing both know by the same email."""
    contact = factories.known_contact(support, email=ANN)
    factories.DepartmentContactFactory(department=marketing, contact=contact)
    for identity in contact.identities.all():
        factories.DepartmentIdentityFactory(department=marketing, identity=identity)
    return contact


@pytest.fixture
def marketing_survey(marketing):
    return factories.SurveyFactory(department=marketing, name="Spring Campaign Pulse")


def complaint(**fields) -> dict:
    return {
        "external_id": "TICKET-4711",
        "kind": "complaint",
        "contact": {"identities": [{"kind": "email", "value": ANN}]},
        "summary": "Invoice charged twice",
        **fields,
    }


def ask(client, survey, *, at: dt.datetime | None = None, email: str = ANN) -> dict:
    """The eligibility API's decision for the person by email."""
    body = {
        "survey": survey.pk,
        "channel": "email",
        "contact": {"identities": [{"kind": "email", "value": email}]},
    }
    if at is not None:
        body["at"] = at.isoformat()
    response = client.post(ELIGIBILITY, body, format="json")
    assert response.status_code == 200, response.content
    return response.json()["decision"]


# Opening


def test_an_open_blackout_blocks_every_departments_survey_and_names_only_its_kind(
    support_api, marketing_api, ann, marketing_survey
):
    opened = support_api.post(BLACKOUTS, complaint(), format="json")

    assert opened.status_code == 201, opened.content
    body = opened.json()
    assert (body["external_id"], body["kind"], body["closed_at"], body["ends_at"]) == (
        "TICKET-4711",
        "complaint",
        None,
        None,
    )
    assert body["contact"] == {"id": str(ann.public_id)}
    decision = ask(marketing_api, marketing_survey)
    assert (decision["allowed"], decision["reason"], decision["next_eligible_at"]) == (
        False,
        "blackout",
        None,
    )
    assert decision["explanation"] == "Blackout: an open complaint."
    triggered = marketing_api.post(
        TRIGGERS,
        {
            "survey": marketing_survey.pk,
            "channel": "email",
            "contact": {"identities": [{"kind": "email", "value": ANN}]},
        },
        format="json",
    )
    assert triggered.status_code == 200, triggered.content
    assert triggered.json()["decision"]["reason"] == "blackout"
    assert not Invitation.objects.exists()
    assert Decision.objects.get().blackout_kind == "complaint"
    for secret in ("TICKET-4711", "Invoice", "charged", "Support", "support"):
        assert secret not in triggered.content.decode()


def test_opening_again_with_the_same_external_id_changes_nothing(support_api, ann):
    first = support_api.post(BLACKOUTS, complaint(), format="json")
    again = support_api.post(BLACKOUTS, complaint(kind="outage", summary="other"), format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Blackout.objects.count() == 1


def test_an_account_blackout_covers_every_contact_of_the_account(
    support, support_api, marketing, marketing_api, ann, marketing_survey
):
    account = Account.objects.create(name="Acme", external_id="ACME-1")
    colleague = factories.known_contact(marketing, email="bo@acme.example")
    for person in (ann, colleague):
        person.account = account
        person.save(update_fields=["account"])

    opened = support_api.post(
        BLACKOUTS, {"external_id": "OUT-1", "kind": "outage", "account": "ACME-1"}, format="json"
    )

    assert opened.status_code == 201, opened.content
    assert opened.json()["account"] == "ACME-1"
    decision = ask(marketing_api, marketing_survey, email="bo@acme.example")
    assert (decision["reason"], decision["explanation"]) == ("blackout", "Blackout: an ongoing outage.")


# Closing


def test_a_closed_blackout_blocks_until_its_tail_has_passed_then_the_rules_decide(
    support_api, marketing_api, ann, marketing_survey
):
    support_api.post(BLACKOUTS, complaint(tail="P14D"), format="json")

    closed = support_api.post(f"{BLACKOUTS}/TICKET-4711/close", {}, format="json")

    assert closed.status_code == 200, closed.content
    body = closed.json()
    ends_at = parse_datetime(body["ends_at"])
    assert ends_at == parse_datetime(body["closed_at"]) + 14 * DAY
    decision = ask(marketing_api, marketing_survey)
    assert (decision["allowed"], decision["reason"]) == (False, "blackout")
    shown = parse_datetime(decision["next_eligible_at"])  # to the hour for a department
    assert dt.timedelta(0) <= shown - ends_at < dt.timedelta(hours=1)
    assert decision["explanation"].startswith("Blackout: a recent complaint, until ")
    assert ask(marketing_api, marketing_survey, at=ends_at)["allowed"] is True


def test_a_rule_blocking_past_the_blackout_gives_the_later_time(
    support_api, marketing_api, marketing, ann, marketing_survey
):
    factories.FrequencyRuleFactory(name="One a month", max_touches=1, window=30 * DAY)
    touched = timezone.now() - 20 * DAY
    trigger_send(
        department=marketing, survey=marketing_survey, channel="email", contact_id=ann.pk, now=touched
    )
    support_api.post(BLACKOUTS, complaint(tail="P2D"), format="json")
    support_api.post(f"{BLACKOUTS}/TICKET-4711/close", {}, format="json")

    decision = ask(marketing_api, marketing_survey)

    assert decision["reason"] == "blackout"
    assert (
        dt.timedelta(0)
        <= parse_datetime(decision["next_eligible_at"]) - (touched + 30 * DAY)
        < dt.timedelta(hours=1)
    )


def test_closing_twice_changes_nothing(support_api, ann):
    support_api.post(BLACKOUTS, complaint(), format="json")
    first = support_api.post(f"{BLACKOUTS}/TICKET-4711/close", {}, format="json")
    again = support_api.post(f"{BLACKOUTS}/TICKET-4711/close", {"tail": "P30D"}, format="json")

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()


# Privacy: another department's customers and blackouts are like missing ones


def test_another_departments_blackout_cannot_be_closed(support_api, marketing_api, ann):
    support_api.post(BLACKOUTS, complaint(), format="json")

    theirs = marketing_api.post(f"{BLACKOUTS}/TICKET-4711/close", {}, format="json")
    missing = marketing_api.post(f"{BLACKOUTS}/NO-SUCH/close", {}, format="json")

    assert assert_error(theirs, 404, "not_found")["message"].replace("TICKET-4711", "X") == assert_error(
        missing, 404, "not_found"
    )["message"].replace("NO-SUCH", "X")
    assert Blackout.objects.get().closed_at is None


def test_a_contact_or_account_only_another_department_knows_is_not_found(support, marketing_api):
    factories.known_contact(support, email="sue@example.com")
    account = Account.objects.create(name="Support's customer", external_id="SUP-ACC")
    only_support = factories.known_contact(support, email="sam@example.com")
    only_support.account = account
    only_support.save(update_fields=["account"])

    by_contact = marketing_api.post(
        BLACKOUTS,
        complaint(contact={"identities": [{"kind": "email", "value": "sue@example.com"}]}),
        format="json",
    )
    by_account = marketing_api.post(
        BLACKOUTS, {"external_id": "X", "kind": "outage", "account": "SUP-ACC"}, format="json"
    )
    stranger = marketing_api.post(
        BLACKOUTS, {"external_id": "Y", "kind": "outage", "account": "NOBODY"}, format="json"
    )

    assert_error(by_contact, 404, "not_found")
    assert assert_error(by_account, 404, "not_found")["message"].replace("SUP-ACC", "X") == assert_error(
        stranger, 404, "not_found"
    )["message"].replace("NOBODY", "X")
    assert not Blackout.objects.exists()


# Bad input, wrong method


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "party"},
        {"account": "ACME-1"},  # a contact and an account
        {"tail": "-P1D"},
        {"external_id": ""},
    ],
)
def test_bad_input_is_400_and_opens_nothing(support_api, ann, fields):
    response = support_api.post(BLACKOUTS, complaint(**fields), format="json")

    assert response.status_code == 400, response.content
    assert set(response.json()) == {"code", "message", "extra"}
    assert not Blackout.objects.exists()


def test_wrong_method_is_405(support_api):
    assert support_api.get(BLACKOUTS).status_code == 405
    assert support_api.get(f"{BLACKOUTS}/X/close").status_code == 405


# The pure policy: where a blackout stands among the reasons (surveys/gatekeeper/rules.py)

AT = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
SEND = rules.Send(department_id=1, survey_kind="relationship", channel="email", at=AT)
ALLOWED_CONSENT = ConsentVerdict(allowed=True)


def decide(*, blackouts, consent=ALLOWED_CONSENT, has_open_invitation=False, touches=(), rule_list=()):
    return rules.decide(
        list(rule_list),
        send=SEND,
        touches=list(touches),
        contact_known_since=AT - 1000 * DAY,
        consent=consent,
        has_address=True,
        has_open_invitation=has_open_invitation,
        blackouts=blackouts,
    )


def blackout(number: int, kind: str, opened: dt.timedelta, ends: dt.timedelta | None) -> rules.Blackout:
    return rules.Blackout(number, kind, AT + opened, AT + ends if ends is not None else None)


def test_an_opt_out_comes_before_a_blackout_and_a_blackout_before_an_open_invitation():
    open_complaint = [blackout(1, "complaint", -DAY, None)]

    opted_out = decide(blackouts=open_complaint, consent=ConsentVerdict(allowed=False, reason="opted_out"))
    invited = decide(blackouts=open_complaint, has_open_invitation=True)

    assert (opted_out.reason, invited.reason, invited.blackout_kind) == ("opted_out", "blackout", "complaint")


def test_the_blackout_named_is_an_open_one_then_the_latest_to_end_then_the_first():
    assert decide(
        blackouts=[blackout(1, "ticket", -DAY, 9 * DAY), blackout(2, "outage", -DAY, None)]
    ).blackout_kind == ("outage")
    assert decide(
        blackouts=[blackout(1, "ticket", -DAY, 2 * DAY), blackout(2, "complaint", -DAY, 3 * DAY)]
    ) == (
        rules.Verdict(
            allowed=False, reason="blackout", next_eligible_at=AT + 3 * DAY, blackout_kind="complaint"
        )
    )
    assert decide(
        blackouts=[blackout(2, "ticket", -DAY, None), blackout(1, "complaint", -DAY, None)]
    ).blackout_kind == ("complaint")


def test_a_blackout_not_yet_opened_or_already_over_blocks_nothing():
    assert decide(blackouts=[blackout(1, "complaint", dt.timedelta(hours=1), None)]).allowed
    assert decide(blackouts=[blackout(1, "complaint", -9 * DAY, 0 * DAY)]).allowed  # ended at the send


def test_a_snooze_waits_for_a_blackout_and_an_open_one_leaves_no_next_time():
    snoozed = ConsentVerdict(allowed=False, reason="snoozed", until=AT + DAY)

    closed = decide(blackouts=[blackout(1, "ticket", -DAY, 4 * DAY)], consent=snoozed)
    still_open = decide(blackouts=[blackout(1, "ticket", -DAY, None)], consent=snoozed)

    assert (closed.reason, closed.next_eligible_at) == ("snoozed", AT + 4 * DAY)
    assert (still_open.reason, still_open.next_eligible_at) == ("snoozed", None)
