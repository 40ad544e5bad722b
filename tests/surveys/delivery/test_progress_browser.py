"""An owner's send in a real browser, end to end: a request created and submitted in the admin, then
its page showing delivery progress that refreshes itself (no JavaScript needed) until 100 % are
sent. Real parts throughout: Chromium (tests/browser.py), a Celery worker and beat on the tests'
broker and database (tests/workers.py), and an SMTP server on loopback (tests/smtp.py)."""

from __future__ import annotations

import pytest
from django.test import Client

from surveys.models import Invitation, SendRequest
from tests import factories
from tests.browser import assert_accessible
from tests.smtp import loopback_smtp
from tests.surveys.public.test_browser import browser  # noqa: F401 — the fixture
from tests.workers import CeleryProcess, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

AUDIENCE = [f"person{n}@example.com" for n in range(6)]


@pytest.fixture
def delivery(transactional_db, tmp_path, settings):
    """A worker and a beat that dispatches due invitations every second, sending to a loopback server."""
    from cxfeedback.celery import app

    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = "00:00"
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(app.conf.task_default_queue)
    with loopback_smtp() as server:
        env = {**server.env(), "QUIET_HOURS_START": "00:00", "QUIET_HOURS_END": "00:00"}
        beat_env = {
            **env,
            "DISPATCH_INTERVAL": "1",
            **dict.fromkeys(("SWEEP_INTERVAL", "EXPIRE_INTERVAL"), "3600"),
        }
        worker = CeleryProcess("worker", env=env).start()
        beat = CeleryProcess("beat", f"--schedule={tmp_path / 'celerybeat-schedule'}", env=beat_env).start()
        try:
            yield server
        finally:
            beat.stop()
            worker.stop()


def test_an_owner_submits_a_request_and_watches_it_reach_100_percent(
    live_server,
    browser,  # noqa: F811
    delivery,
    support,
    alice,
):
    survey = factories.SurveyFactory(department=support, name="After your call")
    for address in AUDIENCE:
        factories.known_contact(support, email=address)
    staff = Client()
    staff.force_login(alice)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies(
        [{"name": "sessionid", "value": staff.cookies["sessionid"].value, "url": live_server.url}]
    )
    page = context.new_page()

    page.goto(f"{live_server.url}/admin/surveys/sendrequest/add/")
    page.locator('select[name="survey"]').select_option(label=f"{survey} — {support}")
    page.locator('select[name="audience_kind"]').select_option("all_known")
    page.get_by_role("button", name="Create and see the pre-flight report").click()
    page.get_by_role("button", name="Submit: reserve and send to 6 eligible contacts").click()

    # The request page shows its delivery, and reloads itself until every invitation is sent.
    bar = page.get_by_role("progressbar", name="Delivered or settled")
    bar.wait_for()
    page.wait_for_function(
        "document.getElementById('delivery-percent')?.textContent === '100%'", timeout=90_000
    )
    assert bar.get_attribute("value") == bar.get_attribute("max") == "6"
    assert page.locator("tr.delivery-sent td").first.inner_text() == "6"
    assert page.locator('meta[http-equiv="refresh"]').count() == 0
    assert_accessible(page)

    send_request = SendRequest.objects.get(survey=survey)
    assert set(Invitation.objects.filter(send_request=send_request).values_list("status", flat=True)) == {
        "sent"
    }
    wait_until(lambda: len(delivery.messages) == len(AUDIENCE), timeout=10, message="every message received")
    assert sorted(m["To"].addresses[0].addr_spec for m in delivery.messages) == sorted(AUDIENCE)

    page.get_by_role("link", name="All 6 invitations of this request").click()
    page.wait_for_url("**/admin/surveys/invitation/**")
    page.locator("#result_list").wait_for()
    assert page.locator("#result_list tbody tr").count() == len(AUDIENCE)
    context.close()
