"""A database restart between "marked sent" and SMTP's final ".": the statement that marked the
invitation sent may never have reached PostgreSQL while the message went out. The mark is written
again on a new connection, so the sweeper does not send the message a second time (issue 19: the
reliability suite's database_restarted_mid_dispatch found two invitations received twice)."""

import datetime as dt

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from surveys.delivery.invitation_status import invitation_mark_sent
from surveys.models import Invitation
from tests import factories


def sending_invitation(department) -> Invitation:
    send_request = factories.SendRequestFactory(department=department, status="sending")
    survey = send_request.survey
    return Invitation.objects.create(
        send_request=send_request,
        survey=survey,
        survey_family_id=survey.family_id,
        department=department,
        survey_kind=survey.kind,
        contact=factories.known_contact(department, email="restart@example.com"),
        channel="email",
        status=Invitation.Status.SENDING,
        touched_at=timezone.now(),
    )


def terminate(backend_pid: int) -> None:
    """What a restart does to this session: PostgreSQL ends it (and waits until it has)."""
    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s.get("PORT") or None,
        user=s["USER"],
        password=s.get("PASSWORD") or None,
        dbname=s["NAME"],
        autocommit=True,
    ) as other:
        assert other.execute("SELECT pg_terminate_backend(%s, 10000)", [backend_pid]).fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_mark_cut_off_by_a_restart_is_written_again_and_the_invitation_reads_sent(support):
    invitation = sending_invitation(support)
    expires_at = timezone.now() + dt.timedelta(days=14)
    connection.ensure_connection()
    backend = connection.connection.info.backend_pid

    applied = invitation_mark_sent(invitation_id=invitation.pk, expires_at=expires_at)
    terminate(backend)  # …and here the final "." goes out: the message is sent
    try:
        # Whether the answer came back before the session ended (a fast local socket) or the mark is
        # written again on a new connection, it reads as applied.
        assert applied() is True
    finally:
        connection.close()  # as the next request's health check would: the old session is gone

    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    assert invitation.sent_at is not None
    assert invitation.expires_at == expires_at
