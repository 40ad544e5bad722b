"""A Content-Security-Policy on every page: the customer's pages run no script at all; staff pages
only the site's own script files — and none of them has an inline script the policy would block."""

import re

import pytest

from cxfeedback.csp import NO_SCRIPT, STAFF
from surveys.delivery.tokens import token_new

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.IGNORECASE)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/t/{token}", "/s/{token}", "/u/{token}", "/p/{token}", "/healthz"])
def test_public_pages_allow_no_script(client, settings, path):
    settings.PUBLIC_RATE_LIMIT = "100000/minute"
    token, _ = token_new()

    answer = client.get(path.format(token=token))

    assert answer["Content-Security-Policy"] == NO_SCRIPT
    assert "script-src" not in NO_SCRIPT and "default-src 'none'" in NO_SCRIPT


@pytest.mark.django_db
def test_the_survey_page_itself_has_no_script(client, support, settings):
    from tests import factories
    from tests.surveys.public.pages import survey_with_every_kind

    settings.PUBLIC_RATE_LIMIT = "100000/minute"
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = "00:00"
    factories.known_contact(support, email="ann@example.com")
    survey = survey_with_every_kind(support)
    factories.screened_request(support, survey=survey)
    from surveys.delivery.sending import invitations_send_batch
    from surveys.models import Invitation

    invitations_send_batch(invitation_ids=list(Invitation.objects.values_list("pk", flat=True)))
    from django.core import mail

    token = re.search(r"/t/([A-Za-z0-9_-]+)", mail.outbox[0].body).group(1)

    page = client.get(f"/t/{token}")

    assert page.status_code == 200
    assert page["Content-Security-Policy"] == NO_SCRIPT
    assert "<script" not in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/surveys/survey/",
        "/admin/surveys/survey/add/",
        "/admin/contacts/contact/",
        "/admin/results/",
        "/admin/results/responses/",
        "/api/docs/",
    ],
)
def test_staff_pages_run_only_the_sites_own_script_files(lead_api, path):
    answer = lead_api.get(path)

    assert answer.status_code == 200, path
    assert answer["Content-Security-Policy"] == STAFF
    assert INLINE_SCRIPT.findall(answer.content.decode()) == [], path
