"""Decisions partitioned by their send request's month (issue 18): a screening's and a trigger's
decisions go to their request's month; a month without a partition loses nothing (the default one
holds its decisions until the beat makes it); one decision per contact still holds; a past month
whose requests are done is detached, and the migration moves a history into months."""

import datetime as dt
import importlib

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from surveys.errors import PartitionRefused
from surveys.gatekeeper.decision_partitions import (
    decision_partition_detach,
    decision_partitions,
    decision_partitions_ensure,
)
from surveys.gatekeeper.send_requests import send_request_screen
from surveys.gatekeeper.triggers import trigger_send
from surveys.models import AudienceMember, Decision, SendRequest
from surveys.models.gatekeeper import request_month_of
from tests import factories
from tests.threads import run_together

Status = SendRequest.Status
migration = importlib.import_module("surveys.migrations.0021_decisions_partitioned_by_month")


@pytest.fixture
def survey(support):
    return factories.SurveyFactory(department=support)


def request_to(survey, contacts, *, created_at: dt.datetime | None = None) -> SendRequest:
    send_request = factories.SendRequestFactory(
        department=survey.department, survey=survey, status=Status.SUBMITTED, audience_kind="upload"
    )
    if created_at:
        SendRequest.objects.filter(pk=send_request.pk).update(created_at=created_at)
    AudienceMember.objects.bulk_create(
        AudienceMember(send_request=send_request, contact=contact, row_number=row)
        for row, contact in enumerate(contacts, start=2)
    )
    return send_request


def partitions_of(send_request: SendRequest) -> dict[str, int]:
    """Where the request's decisions are stored: partition name → decisions."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text, count(*) FROM surveys_decision WHERE send_request_id = %s "
            "GROUP BY 1",
            [send_request.pk],
        )
        return dict(cursor.fetchall())


def this_month() -> str:
    return f"surveys_decision_{timezone.now().astimezone(dt.UTC):%Y_%m}"


def test_a_screenings_decisions_go_to_the_partition_of_its_requests_month(support, survey):
    contacts = [factories.known_contact(support) for _ in range(3)]
    send_request = send_request_screen(send_request_id=request_to(survey, contacts).pk)

    assert partitions_of(send_request) == {this_month(): 3}


def test_a_triggers_decision_goes_to_this_months_partition(support, survey):
    contact = factories.known_contact(support)

    result = trigger_send(department=support, survey=survey, channel="email", contact_id=contact.pk)

    assert partitions_of(result.send_request) == {this_month(): 1}


def test_a_requests_decisions_are_read_from_its_months_partition_alone(support, survey):
    contacts = [factories.known_contact(support) for _ in range(2)]
    send_request = send_request_screen(send_request_id=request_to(survey, contacts).pk)
    decision_partitions_ensure(now=dt.datetime(2031, 11, 20, tzinfo=dt.UTC))  # more months to skip

    pruned = Decision.objects.of_request(send_request).explain()
    unpruned = Decision.objects.filter(send_request=send_request).explain()

    assert Decision.objects.of_request(send_request).count() == 2
    assert this_month() in pruned
    assert "surveys_decision_2031_11" not in pruned and "surveys_decision_default" not in pruned
    assert "surveys_decision_2031_11" in unpruned, "not vacuous: without the month, every partition"


def test_a_month_without_a_partition_loses_nothing_and_gets_one_from_the_next_run(support, survey):
    """A request made in a month the beat never prepared (it was down): its decisions wait in the
    default partition, readable as any, and the next run makes the month and moves them in."""
    contacts = [factories.known_contact(support) for _ in range(4)]
    old = request_to(survey, contacts, created_at=dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC))
    send_request_screen(send_request_id=old.pk)
    assert partitions_of(old) == {"surveys_decision_default": 4}
    ids = set(Decision.objects.filter(send_request=old).values_list("pk", flat=True))

    made = decision_partitions_ensure()

    assert "surveys_decision_2025_03" in made
    assert partitions_of(old) == {"surveys_decision_2025_03": 4}
    assert set(Decision.objects.filter(send_request=old).values_list("pk", flat=True)) == ids
    assert decision_partitions_ensure() == [], "a second run makes nothing"


def test_the_coming_months_are_made_ahead(support):
    made = decision_partitions_ensure(now=dt.datetime(2031, 11, 20, tzinfo=dt.UTC))

    assert made == ["surveys_decision_2031_11", "surveys_decision_2031_12", "surveys_decision_2032_01"]
    months = [p.month for p in decision_partitions()]
    assert months[-1] is None, "the default partition, last"
    assert dt.date(2031, 12, 1) in months


@pytest.fixture
def months_of_2033():
    """The partitions the test below commits, dropped after it (a reused test database keeps tables)."""
    names = [f"surveys_decision_2033_0{month}" for month in (1, 2, 3)]
    yield names
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {', '.join(names)}")


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_make_each_month_once(months_of_2033):
    made = []

    def run():
        made.extend(decision_partitions_ensure(now=dt.datetime(2033, 1, 5, tzinfo=dt.UTC)))

    errors = run_together(run, run)

    assert errors == []
    assert sorted(made) == months_of_2033


def test_one_decision_per_contact_of_a_request_still_holds(support, survey):
    contact = factories.known_contact(support)
    send_request = send_request_screen(send_request_id=request_to(survey, [contact]).pk)

    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(
            send_request=send_request, contact=contact, allowed=True, decided_at=timezone.now()
        )
    assert Decision.objects.filter(send_request=send_request).count() == 1


def test_a_past_month_whose_requests_are_done_is_detached_and_no_longer_read(support, survey):
    contacts = [factories.known_contact(support) for _ in range(2)]
    old = request_to(survey, contacts, created_at=dt.datetime(2025, 5, 2, tzinfo=dt.UTC))
    send_request_screen(send_request_id=old.pk)
    decision_partitions_ensure()
    SendRequest.objects.filter(pk=old.pk).update(status=Status.COMPLETED)

    name = decision_partition_detach(month=dt.date(2025, 5, 1))

    assert name == "surveys_decision_2025_05"
    assert not Decision.objects.filter(send_request=old).exists()
    assert dt.date(2025, 5, 1) not in [p.month for p in decision_partitions()]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM surveys_decision_2025_05")
        assert cursor.fetchone() == (2,), "the detached table keeps its decisions, to be archived"


def test_a_month_with_a_request_still_to_send_is_not_detached(support, survey):
    old = request_to(
        survey, [factories.known_contact(support)], created_at=dt.datetime(2025, 6, 9, tzinfo=dt.UTC)
    )
    send_request_screen(send_request_id=old.pk)
    decision_partitions_ensure()

    with pytest.raises(PartitionRefused, match=r"1 send request\(s\) of 2025-06 are not completed"):
        decision_partition_detach(month=dt.date(2025, 6, 1))
    assert Decision.objects.filter(send_request=old).count() == 1


@pytest.mark.parametrize(
    ("month", "message"),
    [
        (None, "has not ended"),
        (dt.date(2019, 1, 1), "no partition for 2019-01"),
    ],
)
def test_the_current_month_and_one_without_a_partition_are_refused(db, month, message):
    month = month or timezone.now().date()

    with pytest.raises(PartitionRefused, match=message):
        decision_partition_detach(month=month)


def test_the_command_lists_the_months_and_says_what_is_wrong(db, capsys):
    call_command("decision_partitions")
    listed = capsys.readouterr().out
    assert f"{this_month()}\t{timezone.now().astimezone(dt.UTC):%Y-%m}" in listed
    assert "surveys_decision_default\tother months" in listed

    with pytest.raises(CommandError, match=r"--detach: '2025-13' is not a month; give it as YYYY-MM"):
        call_command("decision_partitions", "--detach", "2025-13")
    with pytest.raises(CommandError, match="has not ended"):
        call_command("decision_partitions", "--detach", f"{timezone.now():%Y-%m}")


def test_the_beat_makes_the_partitions(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["make-decision-partitions"]

    assert entry["task"] == "surveys.tasks.decision_partitions_ensure_task"


# The decisions table as it was before the migration (surveys 0020).
UNPARTITIONED = """
CREATE TABLE surveys_decision
    (LIKE public.surveys_decision INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS);
ALTER TABLE surveys_decision DROP COLUMN request_month;
ALTER TABLE surveys_decision ADD CONSTRAINT surveys_decision_pkey PRIMARY KEY (id);
ALTER TABLE surveys_decision ADD CONSTRAINT decision_one_per_contact UNIQUE (send_request_id, contact_id);
CREATE INDEX decision_contact_time ON surveys_decision (contact_id, decided_at);
CREATE INDEX decision_decided_brin ON surveys_decision USING brin (decided_at);
"""


def test_the_migration_moves_a_history_into_its_months_keeping_every_decision_and_id(support, survey):
    """The migration's own SQL, run in a schema of its own on a decisions table shaped as before it,
    beside the send requests the decisions belong to."""
    contact = factories.known_contact(support)
    made_at = [dt.datetime(2026, 9, 15, tzinfo=dt.UTC), dt.datetime(2026, 11, 2, tzinfo=dt.UTC), None]
    requests = [request_to(survey, [], created_at=at).pk for at in made_at]
    rows = [(10 * n + k, pk) for n, pk in enumerate(requests, start=1) for k in (0, 1)]
    rows.append((40, 0))  # a decision whose request is gone keeps its own month, 2026-07
    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA probe")
        cursor.execute("SET LOCAL search_path = probe, public")
        cursor.execute(UNPARTITIONED)
        for decision_id, request_id in rows:
            cursor.execute(
                "INSERT INTO surveys_decision (id, send_request_id, contact_id, allowed, reason, decided_at)"
                " VALUES (%s, %s, %s, true, '', '2026-07-04 10:00+00')",
                [decision_id, request_id, contact.pk + decision_id % 2],
            )

        cursor.execute(migration.PARTITION_SQL)

        cursor.execute("SELECT id, tableoid::regclass::text FROM probe.surveys_decision ORDER BY id")
        stored = cursor.fetchall()
        cursor.execute(
            "INSERT INTO surveys_decision (send_request_id, contact_id, allowed, reason, decided_at,"
            " request_month) VALUES (%s, %s, true, '', now(), %s) RETURNING id",
            [requests[2], contact.pk + 7, request_month_of(timezone.now())],
        )
        next_id = cursor.fetchone()[0]
    now = f"surveys_decision_{timezone.now().astimezone(dt.UTC):%Y_%m}"
    assert stored == [
        (10, "surveys_decision_2026_09"),
        (11, "surveys_decision_2026_09"),
        (20, "surveys_decision_2026_11"),
        (21, "surveys_decision_2026_11"),
        (30, now),
        (31, now),
        (40, "surveys_decision_default"),
    ]
    assert next_id == 41, "new decisions carry on after the history's ids"
