"""The frequency rules' meaning, as tables of cases on plain data (surveys/gatekeeper/rules.py; no database).

Every case is a send by some department at T and a contact's touch history; the expected verdict is
what the gatekeeper must say. surveys/gatekeeper/screening.py applies the same meaning in SQL and is checked
against these functions on random histories (test_screening_matches_rules.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import pytest

from contacts.consent import ConsentVerdict, consent_decide
from surveys.gatekeeper.rules import ALLOWED, Rule, Send, Touch, Verdict, decide, rules_verdict

T = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)  # the moment of the send in every case
SUPPORT, MARKETING, SALES = 1, 2, 3
RELATIONSHIP, TRANSACTIONAL = "relationship", "transactional"
EMAIL, SMS = "email", "sms"
LONG_KNOWN = T - dt.timedelta(days=1000)

SUPPORT_SEND = Send(department_id=SUPPORT, survey_kind=TRANSACTIONAL, channel=EMAIL, at=T)
MARKETING_SEND = Send(department_id=MARKETING, survey_kind=RELATIONSHIP, channel=EMAIL, at=T)


def ago(days: float = 0, *, hours: float = 0, seconds: float = 0) -> dt.datetime:
    return T - dt.timedelta(days=days, hours=hours, seconds=seconds)


def ahead(days: float = 0, *, hours: float = 0, seconds: float = 0) -> dt.datetime:
    return T + dt.timedelta(days=days, hours=hours, seconds=seconds)


def touch(
    at: dt.datetime,
    department: int = SUPPORT,
    kind: str = TRANSACTIONAL,
    channel: str = EMAIL,
    responded: dt.datetime | None = None,
) -> Touch:
    return Touch(
        touched_at=at, department_id=department, survey_kind=kind, channel=channel, responded_at=responded
    )


def rule(max_touches: int = 1, days: float = 30, *, id: int = 1, version: int = 1, **fields) -> Rule:
    return Rule(id=id, version=version, max_touches=max_touches, window=dt.timedelta(days=days), **fields)


def blocked(
    rule: Rule, until: dt.datetime, last: dt.datetime | None = None, own: bool | None = None
) -> Verdict:
    """The verdict of a rule block: `last` is the latest counted touch, `own` whether it was the
    asking department's."""
    return Verdict(
        allowed=False,
        reason="rule",
        rule_id=rule.id,
        rule_version=rule.version,
        next_eligible_at=until,
        last_touch_at=last,
        last_touch_same_department=own,
    )


def check(rules, touches, expected, *, send=SUPPORT_SEND, known_since=LONG_KNOWN) -> None:
    assert rules_verdict(rules, send=send, touches=touches, contact_known_since=known_since) == expected


ONE_PER_30 = rule(1, 30)
ONE_PER_12_HOURS = rule(1, 0.5)
ONE_PER_7 = rule(1, 7)

WINDOW_EDGES = {
    "no touches: allowed": ([], ALLOWED),
    "touch exactly one window ago does not count": ([touch(ago(30))], ALLOWED),
    "touch one second inside the window counts": (
        [touch(ago(30, seconds=-1))],
        blocked(ONE_PER_30, ahead(seconds=1), ago(30, seconds=-1), True),
    ),
    "touch one microsecond inside the window counts": (
        [touch(ago(30) + dt.timedelta(microseconds=1))],
        blocked(ONE_PER_30, T + dt.timedelta(microseconds=1), ago(30) + dt.timedelta(microseconds=1), True),
    ),
    "touch at the very moment of the send counts": ([touch(T)], blocked(ONE_PER_30, ahead(30), T, True)),
    "touch 10 days ago blocks for 20 more days": (
        [touch(ago(10))],
        blocked(ONE_PER_30, ahead(20), ago(10), True),
    ),
    "touches older than the window never count": ([touch(ago(31)), touch(ago(300))], ALLOWED),
}


@pytest.mark.parametrize(("touches", "expected"), WINDOW_EDGES.values(), ids=WINDOW_EDGES.keys())
def test_window_edges(touches, expected):
    check([ONE_PER_30], touches, expected)


@pytest.mark.parametrize(
    ("touched", "expected"),
    [
        (ago(hours=12), ALLOWED),
        (ago(hours=11), blocked(ONE_PER_12_HOURS, ahead(hours=1), ago(hours=11), True)),
    ],
    ids=["12-hour window: touch 12 hours ago does not count", "12-hour window: touch 11 hours ago counts"],
)
def test_windows_of_hours(touched, expected):
    check([ONE_PER_12_HOURS], [touch(touched)], expected)


THREE_PER_90 = rule(3, 90)
TWO_PER_90 = rule(2, 90)

SEVERAL_TOUCHES = {
    "3 per 90 days: 2 touches leave room": (THREE_PER_90, [touch(ago(50)), touch(ago(10))], ALLOWED),
    "3 per 90 days: 3 touches block until the 3rd latest leaves": (
        THREE_PER_90,
        [touch(ago(10)), touch(ago(80)), touch(ago(50))],
        blocked(THREE_PER_90, ahead(10), ago(10), True),
    ),
    "3 per 90 days: 4 touches still wait only for the 3rd latest": (
        THREE_PER_90,
        [touch(ago(85)), touch(ago(80)), touch(ago(50)), touch(ago(10))],
        blocked(THREE_PER_90, ahead(10), ago(10), True),
    ),
    "3 per 90 days: a touch outside the window leaves room": (
        THREE_PER_90,
        [touch(ago(100)), touch(ago(50)), touch(ago(10))],
        ALLOWED,
    ),
    "2 per 90 days: eligible when the older of the two leaves": (
        TWO_PER_90,
        [touch(ago(60)), touch(ago(10))],
        blocked(TWO_PER_90, ahead(30), ago(10), True),
    ),
    "2 per 90 days: two touches at one moment both count": (
        TWO_PER_90,
        [touch(ago(5)), touch(ago(5), MARKETING)],
        blocked(TWO_PER_90, ahead(85), ago(5), True),
    ),
}


@pytest.mark.parametrize(
    ("the_rule", "touches", "expected"), SEVERAL_TOUCHES.values(), ids=SEVERAL_TOUCHES.keys()
)
def test_more_than_one_touch_allowed(the_rule, touches, expected):
    check([the_rule], touches, expected)


SUPPORT_ONLY = rule(1, 30, scope_department_id=SUPPORT)
RELATIONSHIP_ONLY = rule(1, 30, scope_survey_kind=RELATIONSHIP)
SMS_ONLY = rule(1, 30, scope_channel=SMS)
EMAIL_ONLY = rule(1, 30, scope_channel=EMAIL)
SUPPORT_EMAIL = rule(1, 30, scope_department_id=SUPPORT, scope_channel=EMAIL)
MARKETING_RELATIONSHIP_EMAIL = rule(
    1, 30, scope_department_id=MARKETING, scope_survey_kind=RELATIONSHIP, scope_channel=EMAIL
)

SCOPES = {
    "everyone: another department's touch counts": (
        ONE_PER_30,
        SUPPORT_SEND,
        [touch(ago(10), MARKETING)],
        blocked(ONE_PER_30, ahead(20), ago(10), False),
    ),
    "department: its own touch counts": (
        SUPPORT_ONLY,
        SUPPORT_SEND,
        [touch(ago(10))],
        blocked(SUPPORT_ONLY, ahead(20), ago(10), True),
    ),
    "department: another department's touch is not counted": (
        SUPPORT_ONLY,
        SUPPORT_SEND,
        [touch(ago(10), MARKETING)],
        ALLOWED,
    ),
    "department: a rule for support never blocks marketing": (
        SUPPORT_ONLY,
        MARKETING_SEND,
        [touch(ago(1)), touch(ago(2), MARKETING)],
        ALLOWED,
    ),
    "kind: a touch of another kind is not counted": (
        RELATIONSHIP_ONLY,
        MARKETING_SEND,
        [touch(ago(10), kind=TRANSACTIONAL)],
        ALLOWED,
    ),
    "kind: a touch of its kind counts, whoever sent it": (
        RELATIONSHIP_ONLY,
        MARKETING_SEND,
        [touch(ago(10), SALES, kind=RELATIONSHIP)],
        blocked(RELATIONSHIP_ONLY, ahead(20), ago(10), False),
    ),
    "kind: a rule for relationship surveys never blocks a transactional send": (
        RELATIONSHIP_ONLY,
        SUPPORT_SEND,
        [touch(ago(1), kind=RELATIONSHIP)],
        ALLOWED,
    ),
    "channel: an SMS rule never blocks an email send": (
        SMS_ONLY,
        SUPPORT_SEND,
        [touch(ago(1), channel=SMS)],
        ALLOWED,
    ),
    "channel: an SMS touch is not counted by an email rule": (
        EMAIL_ONLY,
        SUPPORT_SEND,
        [touch(ago(1), channel=SMS)],
        ALLOWED,
    ),
    "channel: an email touch counts for an email rule": (
        EMAIL_ONLY,
        SUPPORT_SEND,
        [touch(ago(1), MARKETING, channel=EMAIL)],
        blocked(EMAIL_ONLY, ahead(29), ago(1), False),
    ),
    "department+channel: support's SMS and marketing's email are not counted": (
        SUPPORT_EMAIL,
        SUPPORT_SEND,
        [touch(ago(1), channel=SMS), touch(ago(2), MARKETING, channel=EMAIL)],
        ALLOWED,
    ),
    "department+channel: support's email counts": (
        SUPPORT_EMAIL,
        SUPPORT_SEND,
        [touch(ago(1), channel=SMS), touch(ago(3), channel=EMAIL)],
        blocked(SUPPORT_EMAIL, ahead(27), ago(3), True),
    ),
    "all three scopes: only a touch matching all three counts": (
        MARKETING_RELATIONSHIP_EMAIL,
        MARKETING_SEND,
        [
            touch(ago(1), MARKETING, kind=TRANSACTIONAL),
            touch(ago(2), MARKETING, kind=RELATIONSHIP, channel=SMS),
            touch(ago(3), SUPPORT, kind=RELATIONSHIP),
            touch(ago(4), MARKETING, kind=RELATIONSHIP),
        ],
        blocked(MARKETING_RELATIONSHIP_EMAIL, ahead(26), ago(4), True),
    ),
    "all three scopes: a send that differs in one scope is not covered": (
        MARKETING_RELATIONSHIP_EMAIL,
        Send(department_id=MARKETING, survey_kind=RELATIONSHIP, channel=SMS, at=T),
        [touch(ago(4), MARKETING, kind=RELATIONSHIP)],
        ALLOWED,
    ),
}


@pytest.mark.parametrize(("the_rule", "send", "touches", "expected"), SCOPES.values(), ids=SCOPES.keys())
def test_scopes(the_rule, send, touches, expected):
    check([the_rule], touches, expected, send=send)


ONE_RESPONSE_PER_30 = rule(1, 30, clock="response")

RESPONSE_CLOCKS = {
    "an unanswered touch does not count": (ONE_RESPONSE_PER_30, [touch(ago(1))], ALLOWED),
    "an answer counts from when it was given": (
        ONE_RESPONSE_PER_30,
        [touch(ago(40), responded=ago(10))],
        blocked(ONE_RESPONSE_PER_30, ahead(20), ago(10), True),
    ),
    "an answer exactly one window ago does not count": (
        ONE_RESPONSE_PER_30,
        [touch(ago(35), responded=ago(30))],
        ALLOWED,
    ),
    "an answer one second inside the window counts": (
        ONE_RESPONSE_PER_30,
        [touch(ago(35), responded=ago(30, seconds=-1))],
        blocked(ONE_RESPONSE_PER_30, ahead(seconds=1), ago(30, seconds=-1), True),
    ),
    "an answer older than the window does not count": (
        ONE_RESPONSE_PER_30,
        [touch(ago(50), responded=ago(31))],
        ALLOWED,
    ),
    "the invitation clock counts the same touch by its invitation time": (
        ONE_PER_30,
        [touch(ago(40), responded=ago(10))],
        ALLOWED,
    ),
    "the invitation clock counts an unanswered touch": (
        ONE_PER_30,
        [touch(ago(10))],
        blocked(ONE_PER_30, ahead(20), ago(10), True),
    ),
    "the latest answer is the last touch, not the latest invitation": (
        ONE_RESPONSE_PER_30,
        [touch(ago(20), MARKETING, responded=ago(2)), touch(ago(5), responded=ago(4))],
        blocked(ONE_RESPONSE_PER_30, ahead(28), ago(2), False),
    ),
}


@pytest.mark.parametrize(
    ("the_rule", "touches", "expected"), RESPONSE_CLOCKS.values(), ids=RESPONSE_CLOCKS.keys()
)
def test_response_clocks(the_rule, touches, expected):
    check([the_rule], touches, expected)


GRACE_7_DAYS = rule(1, 30, new_contact_grace=dt.timedelta(days=7))
SUPPORT_GRACE = rule(1, 30, scope_department_id=SUPPORT, new_contact_grace=dt.timedelta(days=7))

GRACE = {
    "known 3 days: blocked until the grace ends": (
        GRACE_7_DAYS,
        SUPPORT_SEND,
        ago(3),
        [],
        blocked(GRACE_7_DAYS, ahead(4)),
    ),
    "known exactly the grace: allowed": (GRACE_7_DAYS, SUPPORT_SEND, ago(7), [], ALLOWED),
    "known one second less than the grace: blocked": (
        GRACE_7_DAYS,
        SUPPORT_SEND,
        ago(7, seconds=-1),
        [],
        blocked(GRACE_7_DAYS, ahead(seconds=1)),
    ),
    "grace and a touch: the later end wins": (
        GRACE_7_DAYS,
        SUPPORT_SEND,
        ago(5),
        [touch(ago(2), MARKETING)],
        blocked(GRACE_7_DAYS, ahead(28), ago(2), False),
    ),
    "grace ends after the touch's block: grace wins, the touch is still named": (
        GRACE_7_DAYS,
        SUPPORT_SEND,
        ago(1),
        [touch(ago(29))],
        blocked(GRACE_7_DAYS, ahead(6), ago(29), True),
    ),
    "grace of a rule that does not cover the send: allowed": (
        SUPPORT_GRACE,
        MARKETING_SEND,
        ago(1),
        [],
        ALLOWED,
    ),
}


@pytest.mark.parametrize(
    ("the_rule", "send", "known_since", "touches", "expected"), GRACE.values(), ids=GRACE.keys()
)
def test_grace_for_new_contacts(the_rule, send, known_since, touches, expected):
    check([the_rule], touches, expected, send=send, known_since=known_since)


RULE_3 = rule(1, 30, id=3, version=2, scope_department_id=SUPPORT)
RULE_5 = rule(2, 90, id=5, version=4)
RULE_7 = rule(1, 30, id=7)

SEVERAL_RULES = {
    "one blocks, one allows: the blocking one": (
        [RULE_7, RULE_5],
        [touch(ago(10), MARKETING)],
        blocked(RULE_7, ahead(20), ago(10), False),
    ),
    "both block: the longer block wins": (
        [RULE_7, RULE_5],
        [touch(ago(60)), touch(ago(10))],
        blocked(RULE_5, ahead(30), ago(10), True),
    ),
    "both block until the same moment: the smaller rule id wins": (
        [RULE_7, RULE_3],
        [touch(ago(10))],
        blocked(RULE_3, ahead(20), ago(10), True),
    ),
    "the rule named reports its own version": (
        [RULE_5],
        [touch(ago(1)), touch(ago(2))],
        blocked(RULE_5, ahead(88), ago(1), True),
    ),
    "none blocks: allowed": ([RULE_7, RULE_5, RULE_3], [touch(ago(31), MARKETING)], ALLOWED),
}


@pytest.mark.parametrize(("rules", "touches", "expected"), SEVERAL_RULES.values(), ids=SEVERAL_RULES.keys())
def test_several_rules_the_strictest_wins(rules, touches, expected):
    check(rules, touches, expected)


PLANNED = {
    "a send planned 5 days ahead blocks until 30 days after it": (
        ONE_PER_30,
        [touch(ahead(5), MARKETING)],
        blocked(ONE_PER_30, ahead(35), ahead(5), False),
    ),
    "a send planned beyond the window does not count: the two are a window apart": (
        ONE_PER_30,
        [touch(ahead(40))],
        ALLOWED,
    ),
    "2 per 30 days, one 20 days ago and one planned in 10: no window of 30 days holds all three": (
        rule(2, 30),
        [touch(ago(20)), touch(ahead(10), MARKETING)],
        ALLOWED,
    ),
    "2 per 30 days, one 20 days ago and one planned in 9: blocked until the window after the past one": (
        rule(2, 30),
        [touch(ago(20)), touch(ahead(9), MARKETING)],
        blocked(rule(2, 30), ahead(10), ahead(9), False),
    ),
    "1 per 7 days between two planned sends: eligible in the gap between them": (
        ONE_PER_7,
        [touch(ahead(3), MARKETING), touch(ahead(17), MARKETING)],
        blocked(ONE_PER_7, ahead(10), ahead(3), False),
    ),
    "1 per 7 days, planned sends too close for a gap: eligible a window after the second": (
        ONE_PER_7,
        [touch(ahead(3), MARKETING), touch(ahead(12), MARKETING)],
        blocked(ONE_PER_7, ahead(19), ahead(3), False),
    ),
}

# Defect 1 of issue 14: with 1 per 7 days and a send planned 60 days ahead, a send now, in a day or
# in 30 days was refused "eligible from now + 67 days", though each is more than a window away.
FAR_PLANNED = [touch(ahead(60), MARKETING)]


@pytest.mark.parametrize("days", [0, 1, 30, 52.99])
def test_a_send_planned_far_ahead_blocks_only_within_a_window_of_it(days):
    send = replace(SUPPORT_SEND, at=ahead(days))
    check([ONE_PER_7], FAR_PLANNED, ALLOWED, send=send)


def test_within_a_window_of_a_planned_send_the_next_eligible_time_is_a_window_after_it():
    send = replace(SUPPORT_SEND, at=ahead(55))
    check([ONE_PER_7], FAR_PLANNED, blocked(ONE_PER_7, ahead(67), ahead(60), False), send=send)


def test_the_next_eligible_time_is_when_every_rule_allows_together():
    """Each rule alone would allow at 10 days; together they allow only after both planned sends."""
    weekly, fortnightly = ONE_PER_7, rule(1, 14, id=2, scope_channel=EMAIL)
    touches = [touch(ahead(3), MARKETING), touch(ahead(23), MARKETING, channel=SMS)]
    verdict = rules_verdict(
        [weekly, fortnightly], send=SUPPORT_SEND, touches=touches, contact_known_since=LONG_KNOWN
    )
    # The fortnightly rule blocks until 17 days (its own end), the weekly one at 10 days; together:
    # at 17 days the weekly rule sees the SMS send at 23 days within its window, so 30 days.
    assert (verdict.rule_id, verdict.next_eligible_at) == (2, ahead(30))


@pytest.mark.parametrize(("the_rule", "touches", "expected"), PLANNED.values(), ids=PLANNED.keys())
def test_planned_touches_count(the_rule, touches, expected):
    check([the_rule], touches, expected)


SAME_DEPARTMENT = {
    "latest touch by another department": (
        TWO_PER_90,
        [touch(ago(60)), touch(ago(10), MARKETING)],
        blocked(TWO_PER_90, ahead(30), ago(10), False),
    ),
    "latest touch by the asking department": (
        TWO_PER_90,
        [touch(ago(60), MARKETING), touch(ago(10))],
        blocked(TWO_PER_90, ahead(30), ago(10), True),
    ),
    "two departments at the same latest moment: its own": (
        ONE_PER_30,
        [touch(ago(10), MARKETING), touch(ago(10))],
        blocked(ONE_PER_30, ahead(20), ago(10), True),
    ),
    "a later touch outside the rule's scope is not the last touch": (
        EMAIL_ONLY,
        [touch(ago(1), channel=SMS), touch(ago(10), MARKETING, channel=EMAIL)],
        blocked(EMAIL_ONLY, ahead(20), ago(10), False),
    ),
}


@pytest.mark.parametrize(
    ("the_rule", "touches", "expected"), SAME_DEPARTMENT.values(), ids=SAME_DEPARTMENT.keys()
)
def test_last_touch_same_department(the_rule, touches, expected):
    check([the_rule], touches, expected)


# decide: reasons in order of precedence ---------------------------------------------------------

OPTED_OUT = ConsentVerdict(allowed=False, reason="opted_out")
SNOOZED = ConsentVerdict(allowed=False, reason="snoozed", until=ahead(14))
CONSENTED = ConsentVerdict(allowed=True)
RULE_BLOCK = blocked(ONE_PER_30, ahead(20), ago(10), True)

# (has address, consent, open invitation, expected)
PRECEDENCE = {
    "no address beats an opt-out, an open invitation and a rule": (
        False,
        OPTED_OUT,
        True,
        Verdict(allowed=False, reason="no_address"),
    ),
    "opted out beats an open invitation and a rule": (
        True,
        OPTED_OUT,
        True,
        Verdict(allowed=False, reason="opted_out"),
    ),
    "snoozed beats an open invitation; eligible when the snooze ends and the rules allow": (
        True,
        SNOOZED,
        True,
        Verdict(allowed=False, reason="snoozed", next_eligible_at=ahead(20)),
    ),
    "an open invitation beats a rule": (
        True,
        CONSENTED,
        True,
        Verdict(allowed=False, reason="already_invited"),
    ),
    "then the rules": (True, CONSENTED, False, RULE_BLOCK),
}


@pytest.mark.parametrize(
    ("has_address", "consent", "open_invitation", "expected"), PRECEDENCE.values(), ids=PRECEDENCE.keys()
)
def test_decide_precedence(has_address, consent, open_invitation, expected):
    verdict = decide(
        [ONE_PER_30],
        send=SUPPORT_SEND,
        touches=[touch(ago(10))],
        contact_known_since=LONG_KNOWN,
        consent=consent,
        has_address=has_address,
        has_open_invitation=open_invitation,
    )
    assert verdict == expected


def test_a_snooze_that_ends_before_a_rule_does_gives_the_rule_s_end():
    """Defect 2 of issue 14: 1 per 14 days, a touch 5 days ago and a snooze until 5 days ahead said
    "next eligible in 5 days" while the rule blocks until 9 days ahead."""
    snoozed = ConsentVerdict(allowed=False, reason="snoozed", until=ahead(5))
    verdict = decide(
        [rule(1, 14)],
        send=SUPPORT_SEND,
        touches=[touch(ago(5))],
        contact_known_since=LONG_KNOWN,
        consent=snoozed,
        has_address=True,
        has_open_invitation=False,
    )
    assert verdict == Verdict(allowed=False, reason="snoozed", next_eligible_at=ahead(9))


def test_decide_allows_when_nothing_stands_in_the_way():
    verdict = decide(
        [ONE_PER_30],
        send=SUPPORT_SEND,
        touches=[touch(ago(31))],
        contact_known_since=LONG_KNOWN,
        consent=CONSENTED,
        has_address=True,
        has_open_invitation=False,
    )
    assert verdict == ALLOWED


@dataclass(frozen=True)
class Record:
    created_at: dt.datetime
    kind: str
    department_id: int | None = None
    channel: str = ""
    until: dt.datetime | None = None


def opt_out(at: dt.datetime, department_id: int | None = None, channel: str = "") -> Record:
    return Record(at, "opt_out", department_id, channel)


def opt_in(at: dt.datetime, department_id: int | None = None, channel: str = "") -> Record:
    return Record(at, "opt_in", department_id, channel)


def snooze(at: dt.datetime, until: dt.datetime, department_id: int | None = None) -> Record:
    return Record(at, "snooze", department_id, "", until)


NOT_ASKED = Verdict(allowed=False, reason="opted_out")

# (consent records, asking department, expected decision); the rule would allow every case.
CONSENT = {
    "nothing said: allowed": ([], SUPPORT, ALLOWED),
    "global opt-out": ([opt_out(ago(100))], SUPPORT, NOT_ASKED),
    "another department's opt-out does not block": ([opt_out(ago(100), MARKETING)], SUPPORT, ALLOWED),
    "its own department's opt-out blocks": ([opt_out(ago(100), SUPPORT)], SUPPORT, NOT_ASKED),
    "SMS opt-out, email send: allowed": ([opt_out(ago(100), channel=SMS)], SUPPORT, ALLOWED),
    "opt-out then opt-in: allowed": ([opt_out(ago(100)), opt_in(ago(50))], SUPPORT, ALLOWED),
    "opt-in then opt-out: opted out": ([opt_in(ago(100)), opt_out(ago(50))], SUPPORT, NOT_ASKED),
    "global opt-out then support opts in: support may ask": (
        [opt_out(ago(100)), opt_in(ago(50), SUPPORT)],
        SUPPORT,
        ALLOWED,
    ),
    "global opt-out then support opts in: marketing may not": (
        [opt_out(ago(100)), opt_in(ago(50), SUPPORT)],
        MARKETING,
        NOT_ASKED,
    ),
    "snooze running: blocked until it ends": (
        [snooze(ago(1), ahead(9))],
        SUPPORT,
        Verdict(allowed=False, reason="snoozed", next_eligible_at=ahead(9)),
    ),
    "snooze over: allowed": ([snooze(ago(20), ago(1))], SUPPORT, ALLOWED),
    "two snoozes: the later end": (
        [snooze(ago(5), ahead(30)), snooze(ago(1), ahead(3))],
        SUPPORT,
        Verdict(allowed=False, reason="snoozed", next_eligible_at=ahead(30)),
    ),
    "snooze then opt-in: allowed": ([snooze(ago(5), ahead(30)), opt_in(ago(1))], SUPPORT, ALLOWED),
    "opt-in then snooze: snoozed": (
        [opt_in(ago(5)), snooze(ago(1), ahead(30))],
        SUPPORT,
        Verdict(allowed=False, reason="snoozed", next_eligible_at=ahead(30)),
    ),
    "snooze and opt-out: opted out wins": ([snooze(ago(5), ahead(30)), opt_out(ago(3))], SUPPORT, NOT_ASKED),
    "an opt-out recorded after the send time does not apply yet": ([opt_out(ahead(1))], SUPPORT, ALLOWED),
}


@pytest.mark.parametrize(("records", "department", "expected"), CONSENT.values(), ids=CONSENT.keys())
def test_decide_with_consent_history(records, department, expected):
    send = Send(department_id=department, survey_kind=TRANSACTIONAL, channel=EMAIL, at=T)
    verdict = decide(
        [ONE_PER_30],
        send=send,
        touches=[touch(ago(31))],
        contact_known_since=LONG_KNOWN,
        consent=consent_decide(records, department_id=department, channel=EMAIL, at=T),
        has_address=True,
        has_open_invitation=False,
    )
    assert verdict == expected
