"""Submitting a request queues its screening; a real Celery worker on the real broker does it."""

import pytest

from departments.actors import actor_for_user
from surveys.gatekeeper.send_requests import send_request_submit
from surveys.models import Decision, Invitation, SendRequest, Survey
from tests import factories
from tests.workers import wait_until


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_submitted_request_is_screened_by_the_worker(celery_worker, support, alice):
    survey = Survey.objects.create(department=support, name="After your call")
    Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
    contacts = [factories.known_contact(support) for _ in range(3)]
    request = SendRequest.objects.create(department=support, survey=survey, audience_kind="all_known")

    send_request_submit(send_request=request, actor=actor_for_user(alice))

    wait_until(
        lambda: SendRequest.objects.get(pk=request.pk).status == SendRequest.Status.SCREENED,
        timeout=60,
        message="the worker to screen the request",
    )
    assert Decision.objects.filter(send_request=request, allowed=True).count() == len(contacts)
    assert Invitation.objects.filter(send_request=request, status="queued").count() == len(contacts)
