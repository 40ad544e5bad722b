"""The public ids of send requests, invitations and external touches are time-ordered (version 7)
UUIDs (cxfeedback/uuids.py): written by the set-based SQL and by the ORM alike, each new one sorts
after the ones before it, so their unique indexes grow at one end instead of all over."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from surveys.gatekeeper.triggers import trigger_send
from surveys.models import Invitation
from tests import factories

pytestmark = pytest.mark.django_db


def _made_at(value: uuid.UUID) -> dt.datetime:
    """The time in a version 7 UUID: its first 48 bits, milliseconds since the Unix epoch."""
    return dt.datetime.fromtimestamp((value.int >> 80) / 1000, tz=dt.UTC)


def _time_ordered(value: uuid.UUID, *, after: dt.datetime, before: dt.datetime) -> bool:
    slack = dt.timedelta(milliseconds=1)  # the UUID's time is cut to the millisecond
    return (
        value.version == 7
        and value.variant == uuid.RFC_4122
        and after - slack <= _made_at(value) <= before + slack
    )


def test_the_database_makes_version_7_uuids_that_sort_in_the_order_they_were_made():
    before = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT uuid_v7() FROM generate_series(1, 2000) AS n ORDER BY n")
        made = [row[0] for row in cursor.fetchall()]
    after = timezone.now()

    assert all(_time_ordered(value, after=before, before=after) for value in made)
    assert len(set(made)) == len(made)
    # In the order made, by their time: ids of the same millisecond sort among themselves at random.
    times = [value.int >> 80 for value in made]
    assert times == sorted(times)


def test_a_screening_and_a_trigger_give_their_rows_time_ordered_ids(support):
    contacts = [factories.known_contact(support) for _ in range(3)]
    before = timezone.now()
    screened = factories.screened_request(support)
    survey = factories.SurveyFactory(department=support, kind="transactional")
    triggered = trigger_send(department=support, survey=survey, channel="email", contact_id=contacts[0].pk)
    after = timezone.now()

    # The screening's INSERT leaves the id to the column's default; the ORM made the request.
    invitations = Invitation.objects.filter(send_request=screened)
    assert invitations.count() == 3
    ids = [*invitations.values_list("public_id", flat=True), screened.public_id]
    # The trigger's statement writes its request, decision and invitation in one go, by default too.
    ids += [triggered.send_request.public_id, triggered.invitation.public_id]
    assert all(_time_ordered(value, after=before, before=after) for value in ids), ids
