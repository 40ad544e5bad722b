"""Consent: what a contact's append-only opt-outs, opt-ins and snoozes add up to at a given time.

The table tests run consent_decide on plain records (no database); the consent_status tests read the
same kind of history from real Consent rows.
"""

import datetime as dt
from dataclasses import dataclass

import pytest
import time_machine

from contacts.consent import ALLOWED, ConsentVerdict, consent_decide
from contacts.consent_selectors import consent_status
from contacts.models import Channel, Consent
from tests import factories

START = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
SUPPORT, MARKETING = 1, 2
EMAIL, SMS, ANY = "email", "sms", ""


def day(n: int) -> dt.datetime:
    return START + dt.timedelta(days=n)


@dataclass(frozen=True)
class Record:
    created_at: dt.datetime
    kind: str
    department_id: int | None = None
    channel: str = ANY
    until: dt.datetime | None = None


def opt_out(on: int, department_id: int | None = None, channel: str = ANY) -> Record:
    return Record(day(on), "opt_out", department_id, channel)


def opt_in(on: int, department_id: int | None = None, channel: str = ANY) -> Record:
    return Record(day(on), "opt_in", department_id, channel)


def snooze(on: int, until: int, department_id: int | None = None, channel: str = ANY) -> Record:
    return Record(day(on), "snooze", department_id, channel, day(until))


OPTED_OUT = ConsentVerdict(allowed=False, reason="opted_out")


def snoozed(until: int) -> ConsentVerdict:
    return ConsentVerdict(allowed=False, reason="snoozed", until=day(until))


# (records, department asking, channel, at day, verdict)
CASES = {
    "nothing said": ([], SUPPORT, EMAIL, 10, ALLOWED),
    "global opt-out blocks everyone": ([opt_out(1)], SUPPORT, EMAIL, 10, OPTED_OUT),
    "global opt-out blocks every channel": ([opt_out(1)], MARKETING, SMS, 10, OPTED_OUT),
    "opt-out has no end": ([opt_out(1)], SUPPORT, EMAIL, 3650, OPTED_OUT),
    "opt-out then opt-in": ([opt_out(1), opt_in(5)], SUPPORT, EMAIL, 10, ALLOWED),
    "opt-in then opt-out": ([opt_in(1), opt_out(5)], SUPPORT, EMAIL, 10, OPTED_OUT),
    "out, in, out again": ([opt_out(1), opt_in(5), opt_out(8)], SUPPORT, EMAIL, 10, OPTED_OUT),
    "records given out of order are read in time order": (
        [opt_in(5), opt_out(1)],
        SUPPORT,
        EMAIL,
        10,
        ALLOWED,
    ),
    "before the opt-in was said": ([opt_out(1), opt_in(5)], SUPPORT, EMAIL, 3, OPTED_OUT),
    "an opt-out written after `at` is ignored": ([opt_out(5)], SUPPORT, EMAIL, 3, ALLOWED),
    "a record written exactly at `at` counts": ([opt_out(5)], SUPPORT, EMAIL, 5, OPTED_OUT),
    "same instant: the later record in the history wins (out, in)": (
        [opt_out(5), opt_in(5)],
        SUPPORT,
        EMAIL,
        10,
        ALLOWED,
    ),
    "same instant: the later record in the history wins (in, out)": (
        [opt_in(5), opt_out(5)],
        SUPPORT,
        EMAIL,
        10,
        OPTED_OUT,
    ),
    # Department scope.
    "department opt-out blocks that department": ([opt_out(1, SUPPORT)], SUPPORT, EMAIL, 10, OPTED_OUT),
    "department opt-out leaves other departments": ([opt_out(1, SUPPORT)], MARKETING, EMAIL, 10, ALLOWED),
    "department opt-out is not a global one": ([opt_out(1, SUPPORT)], None, EMAIL, 10, ALLOWED),
    "global opt-out, then one department may write again": (
        [opt_out(1), opt_in(5, SUPPORT)],
        SUPPORT,
        EMAIL,
        10,
        ALLOWED,
    ),
    "global opt-out, department opt-in: the others stay blocked": (
        [opt_out(1), opt_in(5, SUPPORT)],
        MARKETING,
        EMAIL,
        10,
        OPTED_OUT,
    ),
    "department opt-out lifted by a later global opt-in": (
        [opt_out(1, SUPPORT), opt_in(5)],
        SUPPORT,
        EMAIL,
        10,
        ALLOWED,
    ),
    "global opt-in does not outrank a later department opt-out": (
        [opt_in(1), opt_out(5, SUPPORT)],
        SUPPORT,
        EMAIL,
        10,
        OPTED_OUT,
    ),
    "another department's opt-in does not lift a global opt-out": (
        [opt_out(1), opt_in(5, MARKETING)],
        SUPPORT,
        EMAIL,
        10,
        OPTED_OUT,
    ),
    # Channel scope.
    "email opt-out blocks email": ([opt_out(1, channel=EMAIL)], SUPPORT, EMAIL, 10, OPTED_OUT),
    "email opt-out leaves SMS": ([opt_out(1, channel=EMAIL)], SUPPORT, SMS, 10, ALLOWED),
    "global opt-out, then SMS allowed again: SMS": (
        [opt_out(1), opt_in(5, channel=SMS)],
        SUPPORT,
        SMS,
        10,
        ALLOWED,
    ),
    "global opt-out, then SMS allowed again: email stays blocked": (
        [opt_out(1), opt_in(5, channel=SMS)],
        SUPPORT,
        EMAIL,
        10,
        OPTED_OUT,
    ),
    "department and channel opt-out: that pair": ([opt_out(1, SUPPORT, SMS)], SUPPORT, SMS, 10, OPTED_OUT),
    "department and channel opt-out: same department, other channel": (
        [opt_out(1, SUPPORT, SMS)],
        SUPPORT,
        EMAIL,
        10,
        ALLOWED,
    ),
    "department and channel opt-out: other department, same channel": (
        [opt_out(1, SUPPORT, SMS)],
        MARKETING,
        SMS,
        10,
        ALLOWED,
    ),
    # Snoozes.
    "snooze active": ([snooze(1, 31)], SUPPORT, EMAIL, 10, snoozed(31)),
    "snooze ends at its end": ([snooze(1, 31)], SUPPORT, EMAIL, 31, ALLOWED),
    "snooze expired": ([snooze(1, 31)], SUPPORT, EMAIL, 40, ALLOWED),
    "snooze written after `at` is ignored": ([snooze(10, 40)], SUPPORT, EMAIL, 5, ALLOWED),
    "overlapping snoozes: the longer wins when it came first": (
        [snooze(1, 31), snooze(5, 20)],
        SUPPORT,
        EMAIL,
        10,
        snoozed(31),
    ),
    "overlapping snoozes: the longer wins when it came later": (
        [snooze(1, 10), snooze(5, 40)],
        SUPPORT,
        EMAIL,
        8,
        snoozed(40),
    ),
    "a new snooze after an expired one": ([snooze(1, 5), snooze(20, 50)], SUPPORT, EMAIL, 30, snoozed(50)),
    "an expired snooze does not extend a later shorter one": (
        [snooze(1, 5), snooze(20, 25)],
        SUPPORT,
        EMAIL,
        22,
        snoozed(25),
    ),
    "opt-in clears a snooze": ([snooze(1, 31), opt_in(5)], SUPPORT, EMAIL, 10, ALLOWED),
    "snooze after an opt-in": ([opt_in(1), snooze(5, 20)], SUPPORT, EMAIL, 10, snoozed(20)),
    "department opt-in clears a global snooze for that department": (
        [snooze(1, 31), opt_in(5, SUPPORT)],
        SUPPORT,
        EMAIL,
        10,
        ALLOWED,
    ),
    "department opt-in leaves a global snooze for the others": (
        [snooze(1, 31), opt_in(5, SUPPORT)],
        MARKETING,
        EMAIL,
        10,
        snoozed(31),
    ),
    "another department's snooze": ([snooze(1, 31, MARKETING)], SUPPORT, EMAIL, 10, ALLOWED),
    "this department's snooze": ([snooze(1, 31, SUPPORT)], SUPPORT, EMAIL, 10, snoozed(31)),
    "SMS snooze leaves email": ([snooze(1, 31, channel=SMS)], SUPPORT, EMAIL, 10, ALLOWED),
    "SMS snooze blocks SMS": ([snooze(1, 31, channel=SMS)], SUPPORT, SMS, 10, snoozed(31)),
    # Opt-out and snooze together: the opt-out has no end, so it is the answer.
    "opted out and snoozed": ([opt_out(1), snooze(5, 31)], SUPPORT, EMAIL, 10, OPTED_OUT),
    "snoozed then opted out": ([snooze(1, 31), opt_out(5)], SUPPORT, EMAIL, 10, OPTED_OUT),
    "a snooze ending does not lift an opt-out": ([opt_out(1), snooze(5, 31)], SUPPORT, EMAIL, 40, OPTED_OUT),
    "opt-in lifts both": ([opt_out(1), snooze(5, 31), opt_in(8)], SUPPORT, EMAIL, 10, ALLOWED),
}


@pytest.mark.parametrize(("records", "department_id", "channel", "at", "verdict"), CASES.values(), ids=CASES)
def test_consent_decide(records, department_id, channel, at, verdict):
    assert consent_decide(records, department_id=department_id, channel=channel, at=day(at)) == verdict


def test_consent_decide_reads_any_iterable_once():
    records = iter([opt_out(1), opt_in(5)])
    assert consent_decide(records, department_id=SUPPORT, channel=EMAIL, at=day(10)) == ALLOWED


# consent_status: the same answers from real rows.


@pytest.fixture
def contact(db):
    return factories.ContactFactory()


def test_status_without_records_is_allowed(contact):
    assert consent_status(contact_id=contact.pk, department_id=None, channel=EMAIL, at=day(0)) == ALLOWED


def test_status_reads_history_in_time_order(contact, support):
    # Written in the opposite order to when they were said: the opt-in (day 5) is the last word.
    factories.ConsentFactory(contact=contact, kind=Consent.Kind.OPT_IN, created_at=day(5))
    factories.ConsentFactory(contact=contact, kind=Consent.Kind.OPT_OUT, created_at=day(1))

    assert (
        consent_status(contact_id=contact.pk, department_id=support.pk, channel=EMAIL, at=day(3)) == OPTED_OUT
    )
    assert (
        consent_status(contact_id=contact.pk, department_id=support.pk, channel=EMAIL, at=day(10)) == ALLOWED
    )


def test_status_department_scope(contact, support, marketing):
    factories.ConsentFactory(contact=contact, department=marketing, created_at=day(1))

    assert (
        consent_status(contact_id=contact.pk, department_id=marketing.pk, channel=EMAIL, at=day(2))
        == OPTED_OUT
    )
    assert (
        consent_status(contact_id=contact.pk, department_id=support.pk, channel=EMAIL, at=day(2)) == ALLOWED
    )


def test_status_global_opt_out_then_department_opt_in(contact, support, marketing):
    factories.ConsentFactory(contact=contact, source=Consent.Source.UNSUBSCRIBE_LINK, created_at=day(1))
    factories.ConsentFactory(
        contact=contact,
        kind=Consent.Kind.OPT_IN,
        department=support,
        source=Consent.Source.PREFERENCE_CENTRE,
        created_at=day(2),
    )

    assert (
        consent_status(contact_id=contact.pk, department_id=support.pk, channel=EMAIL, at=day(3)) == ALLOWED
    )
    assert (
        consent_status(contact_id=contact.pk, department_id=marketing.pk, channel=EMAIL, at=day(3))
        == OPTED_OUT
    )


def test_status_channel_scope(contact, support):
    factories.ConsentFactory(
        contact=contact, channel=Channel.SMS, source=Consent.Source.SMS_STOP, created_at=day(1)
    )

    assert (
        consent_status(contact_id=contact.pk, department_id=support.pk, channel=SMS, at=day(2)) == OPTED_OUT
    )
    assert (
        consent_status(contact_id=contact.pk, department_id=support.pk, channel=EMAIL, at=day(2)) == ALLOWED
    )


def test_status_ignores_other_contacts(contact, support):
    factories.ConsentFactory(created_at=day(1))  # somebody else's opt-out

    assert (
        consent_status(contact_id=contact.pk, department_id=support.pk, channel=EMAIL, at=day(2)) == ALLOWED
    )


def test_status_ignores_records_after_at(contact, support):
    factories.ConsentFactory(contact=contact, created_at=day(5))

    assert (
        consent_status(contact_id=contact.pk, department_id=support.pk, channel=EMAIL, at=day(4)) == ALLOWED
    )


def test_status_same_instant_later_write_wins(contact, support):
    # A bounce and an admin's opt-in stamped with the same instant: the row written last is the last word.
    factories.ConsentFactory(contact=contact, source=Consent.Source.BOUNCE, created_at=day(1))
    factories.ConsentFactory(contact=contact, kind=Consent.Kind.OPT_IN, created_at=day(1))
    assert (
        consent_status(contact_id=contact.pk, department_id=support.pk, channel=EMAIL, at=day(2)) == ALLOWED
    )

    factories.ConsentFactory(contact=contact, source=Consent.Source.COMPLAINT, created_at=day(1))
    assert (
        consent_status(contact_id=contact.pk, department_id=support.pk, channel=EMAIL, at=day(2)) == OPTED_OUT
    )


def test_status_snooze_over_time(contact, support):
    with time_machine.travel(day(0), tick=False):
        # "Not for 30 days" from the preference centre, stamped with the current time.
        factories.ConsentFactory(
            contact=contact, kind=Consent.Kind.SNOOZE, until=day(30), source=Consent.Source.PREFERENCE_CENTRE
        )

    def status_on(n: int) -> ConsentVerdict:
        return consent_status(contact_id=contact.pk, department_id=support.pk, channel=EMAIL, at=day(n))

    assert status_on(10) == snoozed(30)
    assert status_on(29) == snoozed(30)
    assert status_on(30) == ALLOWED
    assert status_on(45) == ALLOWED


def test_status_overlapping_snoozes_and_opt_in(contact, support):
    for said_on, until in [(0, 30), (5, 60)]:
        with time_machine.travel(day(said_on), tick=False):
            factories.ConsentFactory(contact=contact, kind=Consent.Kind.SNOOZE, until=day(until))
    with time_machine.travel(day(40), tick=False):
        factories.ConsentFactory(contact=contact, kind=Consent.Kind.OPT_IN)

    assert consent_status(
        contact_id=contact.pk, department_id=support.pk, channel=EMAIL, at=day(35)
    ) == snoozed(60)
    assert (
        consent_status(contact_id=contact.pk, department_id=support.pk, channel=EMAIL, at=day(41)) == ALLOWED
    )


def test_status_is_one_query(contact, support, django_assert_num_queries):
    factories.ConsentFactory(contact=contact, created_at=day(1))
    factories.ConsentFactory(contact=contact, kind=Consent.Kind.SNOOZE, until=day(9), created_at=day(2))

    with django_assert_num_queries(1):
        consent_status(contact_id=contact.pk, department_id=support.pk, channel=EMAIL, at=day(3))
