"""Account caps while other tools ask for slots (issue 16): a screening of an account's people and
ask-then-record reservations for the same people, released at once, never let more people of one
account through than a per-account rule allows. Both take the stripes of the whole account
(surveys/gatekeeper/locks.py); the check is an SQL count of our own over the invitations."""

import datetime as dt
import time

import pytest
from django.db import DatabaseError, connection
from django.utils import timezone

from contacts.models import Account
from departments.actors import Actor
from surveys.external.reservations import external_reservation_create
from surveys.external.touches import TouchInput
from surveys.gatekeeper.send_requests import send_request_screen
from surveys.models import AudienceMember, ExternalTouch, Invitation, SendRequest
from tests import factories
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)

MONTH = dt.timedelta(days=30)
ROUNDS = 8
PEOPLE = 3


def account_people(support, number: int) -> list[int]:
    account = Account.objects.create(name=f"Account {number}", external_id=f"ACC-{number}")
    contacts = [factories.known_contact(support, email=f"a{number}-{n}@example.com") for n in range(PEOPLE)]
    for contact in contacts:
        contact.account = account
        contact.save(update_fields=["account"])
    return [contact.pk for contact in contacts]


def screening_call(support, survey, contact_ids: list[int]):
    request = SendRequest.objects.create(
        department=support, survey=survey, audience_kind="upload", status="submitted",
        earliest_send_at=timezone.now() - dt.timedelta(days=1), submitted_at=timezone.now(),
    )  # fmt: skip
    AudienceMember.objects.bulk_create(
        AudienceMember(send_request=request, contact_id=contact_id, row_number=row)
        for row, contact_id in enumerate(contact_ids, start=2)
    )
    return lambda: send_request_screen(send_request_id=request.pk)


def reservation_call(support, contact_id: int, key: str, *, after: float = 0):
    """A reservation for the contact, asked `after` seconds after the others' release."""
    actor = Actor(department_ids=frozenset([support.pk]))
    touch = TouchInput(contact_id, "transactional", "email", timezone.now(), "Typeform", key)

    def call() -> None:
        time.sleep(after)
        external_reservation_create(actor=actor, department=support, touch=touch)

    return call


def people_surveyed_per_account(account_ids: list[int]) -> dict[int, int]:
    """Counted touches per account in the last 30 days, read with SQL of our own."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.account_id, count(DISTINCT i.contact_id) FROM surveys_invitation i
               JOIN contacts_contact c ON c.id = i.contact_id
               WHERE c.account_id = ANY(%s) AND i.status <> 'cancelled'
                 AND i.touched_at > now() - interval '30 days'
               GROUP BY c.account_id""",
            [account_ids],
        )
        return dict(cursor.fetchall())


def test_reservations_during_a_screening_never_pass_an_account_cap(support):
    factories.FrequencyRuleFactory(
        name="One person per account a month", max_touches=1, window=MONTH, per_account=True
    )
    survey = factories.SurveyFactory(department=support)
    accounts = []
    for number in range(ROUNDS):
        contact_ids = account_people(support, number)
        accounts.append(Account.objects.get(external_id=f"ACC-{number}").pk)
        calls = [screening_call(support, survey, contact_ids)]
        # A reservation is quicker to its locks than a screening: in every other round it sets out a
        # little later, so that each side wins some rounds (the two still overlap).
        calls += [
            reservation_call(support, contact_id, f"{number}-{contact_id}", after=0.02 * (number % 2))
            for contact_id in contact_ids[1:]
        ]
        errors = run_together(*calls, timeout=90)
        # A collision the database refused wrote nothing; anything else is a failure.
        assert all(isinstance(error, DatabaseError) for error in errors), errors

    surveyed = people_surveyed_per_account(accounts)
    assert all(count <= 1 for count in surveyed.values()), surveyed
    assert len(surveyed) == ROUNDS, "every round let exactly one person through"
    reserved = ExternalTouch.objects.filter(source_tool="Typeform", invitation__status="queued").count()
    screened = Invitation.objects.filter(send_request__survey=survey).count()
    assert reserved and screened, ("not vacuous: both sides won some rounds", reserved, screened)
