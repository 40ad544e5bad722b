"""A submitted request is screened even when its screening task is lost or its database connection is
cut mid-way (issue 6's faults; `make reliability` shows the same under load)."""

import datetime as dt

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from departments.actors import actor_for_user
from surveys.gatekeeper.locks import LOCK_NAMESPACE, LOCK_STRIPES
from surveys.gatekeeper.send_requests import send_request_submit
from surveys.models import Decision, Invitation, SendRequest, Survey
from surveys.tasks import sweep_stuck_task
from tests import factories
from tests.workers import wait_until


def _survey(department) -> Survey:
    survey = Survey.objects.create(department=department, name="After your call")
    Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
    factories.QuestionFactory(survey=survey, position=1, kind="nps", text="Would you recommend us?")
    return Survey.objects.get(pk=survey.pk)


def _screened(request: SendRequest) -> bool:
    return SendRequest.objects.get(pk=request.pk).status == SendRequest.Status.SCREENED


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_sweeper_queues_again_a_screening_whose_task_was_lost(celery_worker, support):
    # Submitted long ago and never screened: the broker was down when it was submitted.
    survey = _survey(support)
    contacts = [factories.known_contact(support) for _ in range(3)]
    long_ago = timezone.now() - dt.timedelta(hours=2)
    lost = SendRequest.objects.create(
        department=support,
        survey=survey,
        audience_kind="all_known",
        status="submitted",
        submitted_at=long_ago,
    )

    sweep_stuck_task()

    wait_until(lambda: _screened(lost), timeout=60, message="the worker to screen the request")
    assert Decision.objects.filter(send_request=lost, allowed=True).count() == len(contacts)
    assert Invitation.objects.filter(send_request=lost).count() == len(contacts)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_screening_whose_connection_is_cut_rolls_back_and_runs_again(celery_worker, support, alice):
    survey = _survey(support)
    contacts = [factories.known_contact(support) for _ in range(5)]
    request = SendRequest.objects.create(department=support, survey=survey, audience_kind="all_known")
    settings = connection.settings_dict
    # Another session holds every contact stripe, so the worker's screening waits inside its
    # transaction, where its connection is then cut.
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"] or None, user=settings["USER"],
        password=settings["PASSWORD"] or None, dbname=settings["NAME"],
    ) as holder:  # fmt: skip
        holder.execute(
            "SELECT count(pg_advisory_xact_lock(%s, s)) FROM generate_series(0, %s) s",
            [LOCK_NAMESPACE, LOCK_STRIPES - 1],
        )
        send_request_submit(send_request=request, actor=actor_for_user(alice))
        waiting = wait_until(
            lambda: holder.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchall(),
            timeout=60,
            message="the worker's screening to wait for the stripes",
        )
        holder.execute("SELECT pg_terminate_backend(%s)", [waiting[0][0]])
        assert SendRequest.objects.get(pk=request.pk).status == SendRequest.Status.SUBMITTED
        assert not Decision.objects.filter(send_request=request).exists()
        holder.rollback()  # the stripes are free again

    wait_until(lambda: _screened(request), timeout=60, message="the retried screening")
    assert Decision.objects.filter(send_request=request, allowed=True).count() == len(contacts)
    assert Invitation.objects.filter(send_request=request).count() == len(contacts)
