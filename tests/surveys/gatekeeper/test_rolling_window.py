"""The rolling-window promise, checked against a brute-force reading of its words (issue 14).

"A new touch at T is allowed when every window of the rule's length that contains T holds at most N
counted touches including it — touches before and after T alike." The brute force below slides a
window across every half hour and counts; surveys/gatekeeper/rules.py reasons with intervals
instead. Touches, windows, graces and snoozes fall on whole hours, so every count changes on a
whole hour and half-hour steps see every window there is.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from contacts.consent import ConsentVerdict
from surveys.gatekeeper.rules import Rule, Send, Touch, decide

T = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
HOUR, HALF_HOUR = dt.timedelta(hours=1), dt.timedelta(minutes=30)
SUPPORT, MARKETING = 1, 2


def allowed_by_brute_force(
    rules: list[Rule], touches: list[Touch], known_since: dt.datetime, at: dt.datetime
):
    for rule in rules:
        if known_since + (rule.new_contact_grace or dt.timedelta(0)) > at:
            return False
        times = [touch.touched_at for touch in touches if rule.covers(**_scope(touch))]
        window_end = at
        while window_end < at + rule.window:  # every window (end − W, end] that holds `at`
            if sum(window_end - rule.window < time <= window_end for time in times) + 1 > rule.max_touches:
                return False
            window_end += HALF_HOUR
    return True


def _scope(touch: Touch) -> dict:
    return {"department_id": touch.department_id, "survey_kind": touch.survey_kind, "channel": touch.channel}


def first_allowed_by_brute_force(rules, touches, known_since, start: dt.datetime) -> dt.datetime:
    at = start
    while not allowed_by_brute_force(rules, touches, known_since, at):
        at += HALF_HOUR
    return at


hours = st.integers(-200, 200).map(lambda n: T + n * HOUR)
rules = st.lists(
    st.builds(
        Rule,
        id=st.integers(1, 1000),
        version=st.just(1),
        max_touches=st.integers(1, 3),
        window=st.integers(1, 120).map(lambda n: n * HOUR),
        scope_channel=st.sampled_from(["", "", "email", "sms"]),
        new_contact_grace=st.one_of(st.none(), st.integers(1, 100).map(lambda n: n * HOUR)),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda rule: rule.id,
).map(lambda drawn: sorted(drawn, key=lambda rule: rule.id))
touches = st.lists(
    st.builds(
        Touch,
        touched_at=hours,
        department_id=st.sampled_from([SUPPORT, MARKETING]),
        survey_kind=st.just("transactional"),
        channel=st.sampled_from(["email", "sms"]),
    ),
    max_size=8,
)


@settings(max_examples=400, deadline=None)
@given(
    rules=rules,
    touches=touches,
    known_since=st.integers(-150, 0).map(lambda n: T + n * HOUR),
    snoozed_until=st.one_of(st.none(), st.integers(1, 150).map(lambda n: T + n * HOUR)),
)
def test_verdicts_and_next_eligible_times_keep_the_promise_as_worded(
    rules, touches, known_since, snoozed_until
):
    send = Send(department_id=SUPPORT, survey_kind="transactional", channel="email", at=T)
    consent = ConsentVerdict(allowed=False, reason="snoozed", until=snoozed_until) if snoozed_until else None
    verdict = decide(
        rules,
        send=send,
        touches=touches,
        contact_known_since=known_since,
        consent=consent or ConsentVerdict(allowed=True),
        has_address=True,
        has_open_invitation=False,
    )
    covering = [rule for rule in rules if rule.covers(**_scope(Touch(T, SUPPORT, "transactional", "email")))]

    if snoozed_until:
        assert verdict.reason == "snoozed"
        assert verdict.next_eligible_at == first_allowed_by_brute_force(
            covering, touches, known_since, snoozed_until
        )
    elif allowed_by_brute_force(covering, touches, known_since, T):
        assert verdict.allowed
    else:
        assert verdict.reason == "rule"
        assert verdict.next_eligible_at == first_allowed_by_brute_force(covering, touches, known_since, T)
