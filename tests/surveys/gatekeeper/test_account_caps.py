"""Account and household caps (issue 16): a frequency rule per account counts the touches of every
contact of one account together ("at most 2 people of one account surveyed per 30 days"), in
triggers and in a request's screening alike, and stays race-free when two triggers for two people
of one account run at once (each takes the stripes of the whole account, surveys/gatekeeper/locks.py)."""

import datetime as dt
import threading
from unittest import mock

import pytest
from django.db import DatabaseError, connection

from contacts.models import Account
from surveys.gatekeeper import locks
from surveys.gatekeeper.triggers import trigger_send
from surveys.models import Decision, Invitation
from tests import factories

MONTH = dt.timedelta(days=30)


def people(department, account, count: int, prefix: str):
    """The account's people, each in a stripe of their own: only the account's rule ties them."""
    contacts = []
    for n in range(count):
        factories.contact_ids_skipped(locks.STRIPE_RUN)
        contacts.append(factories.known_contact(department, email=f"{prefix}{n}@example.com"))
    for contact in contacts:
        contact.account = account
        contact.save(update_fields=["account"])
    return contacts


def test_a_rule_per_account_counts_the_accounts_people_together(support):
    factories.FrequencyRuleFactory(
        name="Two people per account a month", max_touches=2, window=MONTH, per_account=True
    )
    factories.FrequencyRuleFactory(name="One a month each", max_touches=1, window=MONTH)
    acme = people(support, Account.objects.create(name="Acme"), 3, "acme")
    [loner] = people(support, None, 1, "solo")
    survey = factories.SurveyFactory(department=support)

    decisions = [
        trigger_send(department=support, survey=survey, channel="email", contact_id=c.pk).decision
        for c in [*acme, loner]
    ]

    assert [(d.allowed, d.reason) for d in decisions] == [(True, ""), (True, ""), (False, "rule"), (True, "")]
    assert decisions[2].rule.name == "Two people per account a month"
    assert decisions[2].last_touch_same_department is True


def test_a_screening_never_lets_more_people_of_one_account_through_than_the_cap(support):
    factories.FrequencyRuleFactory(
        name="Two people per account a month", max_touches=2, window=MONTH, per_account=True
    )
    acme = people(support, Account.objects.create(name="Acme"), 4, "acme")
    globex = people(support, Account.objects.create(name="Globex"), 1, "globex")

    request = factories.screened_request(support)

    allowed = set(Invitation.objects.filter(send_request=request).values_list("contact_id", flat=True))
    assert allowed == {acme[0].pk, acme[1].pk, globex[0].pk}
    assert Decision.objects.filter(send_request=request, reason="rule").count() == 2


ROUNDS = 12


@pytest.mark.django_db(transaction=True)
def test_two_triggers_for_two_people_of_one_account_never_pass_the_cap_together(support):
    factories.FrequencyRuleFactory(
        name="One person per account a month", max_touches=1, window=MONTH, per_account=True
    )
    survey = factories.SurveyFactory(department=support)
    # Each trigger holds its decision uncommitted for a while, waiting for the other's: the other
    # would decide without seeing it, unless a lock keeps it waiting until the first commits.
    over_cap = rounds_over_cap(support, survey, hold=0.5)
    assert over_cap == 0


def rounds_over_cap(support, survey, *, hold: float) -> int:
    """Rounds (of ROUNDS) in which both of two triggers racing for one account were let through."""
    over = 0
    for number in range(ROUNDS):
        pair = people(support, Account.objects.create(name=f"Account {number}"), 2, f"r{number}-")
        race(support, survey, [c.pk for c in pair], hold=hold)
        over += Invitation.objects.filter(contact__in=pair).count() > 1
    return over


def race(support, survey, contact_ids: list[int], *, hold: float) -> None:
    """A trigger for each contact, each in its own thread and connection, released at once. Each one,
    once its decision is written, waits up to `hold` seconds for the others to have decided too before
    it commits: the interleaving in which none sees the others' invitations, unless a lock holds it
    back until they are committed (left to chance, a loaded machine often runs one trigger whole
    before the other starts)."""
    barrier = threading.Barrier(len(contact_ids))
    errors: list[BaseException] = []
    decided = {"count": 0}
    all_decided = threading.Condition()

    def held(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "INSERT INTO surveys_decision" in sql:
            with all_decided:
                decided["count"] += 1
                all_decided.notify_all()
                all_decided.wait_for(lambda: decided["count"] == len(contact_ids), timeout=hold)
        return result

    def trigger(contact_id: int) -> None:
        try:
            barrier.wait(timeout=30)
            with connection.execute_wrapper(held):
                trigger_send(department=support, survey=survey, channel="email", contact_id=contact_id)
        except DatabaseError:
            pass  # a collision the database refused: nothing written
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=trigger, args=(contact_id,)) for contact_id in contact_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a trigger hung: a deadlock in the locks?"
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
def test_without_the_accounts_stripes_the_race_is_lost(support, monkeypatch):
    """The test above can fail: locking only each trigger's own contact lets both through."""
    factories.FrequencyRuleFactory(
        name="One person per account a month", max_touches=1, window=MONTH, per_account=True
    )
    survey = factories.SurveyFactory(department=support)
    own_stripe_only = mock.patch.object(locks, "lock_contacts", side_effect=lambda ids: _own_stripes(ids))

    with own_stripe_only:
        # Both decide before either commits (neither waits for the other's stripe): every round.
        assert rounds_over_cap(support, survey, hold=30) == ROUNDS


def _own_stripes(contact_ids) -> None:
    """lock_contacts as it was before accounts: the contacts' own stripes alone."""
    stripes = sorted({c // locks.STRIPE_RUN % locks.LOCK_STRIPES for c in contact_ids})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, s)) FROM unnest(%s::int[]) AS s",
            [locks.LOCK_NAMESPACE, stripes],
        )
