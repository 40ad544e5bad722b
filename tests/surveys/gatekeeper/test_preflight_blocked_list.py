"""The pre-flight's totals add up (duplicates are rows, not contacts, and have their own line), and its
blocked list downloads as CSV before submitting, from the admin and the API: the department's own
identifiers, the reason, the next eligible time as the department may see it, nothing for another
department."""

import csv
import datetime as dt
import io
import re
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.models import Consent, Identity
from departments.actors import actor_for_user
from surveys.gatekeeper.audiences import send_request_set_audience_upload
from surveys.gatekeeper.frequency_rules import frequency_rule_create
from surveys.gatekeeper.preflight import preflight_summary, send_request_preflight
from surveys.gatekeeper.send_requests import send_request_create
from tests import factories
from tests.surveys.gatekeeper.test_send_requests import touch

NOW = timezone.now().replace(microsecond=0)
DAY = dt.timedelta(days=1)
# A marketing send 5 days and some minutes ago: its exact time must not show in support's list.
MARKETING_SENT_AT = NOW - 5 * DAY - dt.timedelta(minutes=17, seconds=23)


@pytest.fixture
def upload_draft(alice, lead, support, marketing):
    """An uploaded list of five rows: Ann twice, Bob opted out, Cid asked by marketing five days ago
    under a company-wide 30-day rule, Dan eligible."""
    frequency_rule_create(
        actor=actor_for_user(lead), name="One survey per 30 days per person", max_touches=1, window=30 * DAY
    )
    survey = factories.SurveyFactory(department=support, name="Support NPS")
    request = send_request_create(
        actor=actor_for_user(alice),
        department=support,
        survey=survey,
        channel="email",
        audience_kind="upload",
        earliest_send_at=NOW,
        now=NOW,
    )
    rows = "email\nann@example.com\nbob@example.com\nCid@Example.com\nann@example.com\ndan@example.com\n"
    send_request_set_audience_upload(
        actor=actor_for_user(alice), send_request=request, file=io.BytesIO(rows.encode())
    )
    contact = {
        name: Identity.objects.get(normalised=f"{name}@example.com").contact for name in ("ann", "bob", "cid")
    }
    factories.ConsentFactory(contact=contact["bob"], kind=Consent.Kind.OPT_OUT, created_at=NOW - DAY)
    touch(contact["cid"], factories.SurveyFactory(department=marketing), at=MARKETING_SENT_AT)
    return request


def test_every_preflight_total_is_the_sum_of_its_parts(upload_draft):
    report = preflight_summary(send_request_preflight(send_request=upload_draft))

    assert (report["audience_rows"], report["duplicates"], report["contacts"]) == (5, 1, 4)
    assert report["audience_rows"] == report["duplicates"] + report["contacts"]
    assert (report["eligible_now"], report["planned_later"], report["blocked_total"]) == (2, 0, 2)
    assert report["contacts"] == report["eligible_now"] + report["planned_later"] + report["blocked_total"]
    assert sum(block["count"] for block in report["blocks"]) == report["blocked_total"]
    assert "duplicate_in_audience" not in {block["reason"] for block in report["blocks"]}


def test_the_admin_preflight_shows_duplicates_on_their_own_line_and_a_total_that_adds_up(
    alice_client, upload_draft
):
    page = alice_client.get(reverse("admin:surveys_sendrequest_preflight", args=[upload_draft.pk]))
    html = page.content.decode()

    assert re.search(r'<td id="duplicates">1\b', html)
    assert re.search(r'<td id="blocked-total">2\b', html)
    assert '<td id="blocks-total">2</td>' in html
    counts = re.findall(r'<tr class="block-[a-z_]+">\s*<th scope="row">[^<]*</th>\s*<td>(\d+)</td>', html)
    assert sum(map(int, counts)) == 2


def rows_of(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_the_blocked_list_downloads_from_the_admin_before_submitting(alice_client, upload_draft):
    page = alice_client.get(reverse("admin:surveys_sendrequest_preflight", args=[upload_draft.pk]))
    link = re.search(r'<a id="blocked-list" href="([^"]+)"', page.content.decode()).group(1)

    response = alice_client.get(link)

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    rows = rows_of(response)
    by_reason = {row["reason"]: row for row in rows}
    assert sorted(by_reason) == ["duplicate_in_audience", "opted_out", "rule"]
    assert by_reason["opted_out"]["identifiers"] == "bob@example.com"
    assert by_reason["duplicate_in_audience"]["identifiers"] == "ann@example.com"
    assert by_reason["duplicate_in_audience"]["duplicate_rows"] == "1"
    rule = by_reason["rule"]
    assert rule["identifiers"] == "Cid@Example.com"  # the department's own spelling
    assert rule["reason_label"] == "Rule “One survey per 30 days per person”"
    # Eligible again 30 days after marketing's send, shown to the full hour: not when it was sent.
    eligible = dt.datetime.fromisoformat(rule["next_eligible_at"])
    assert (eligible.minute, eligible.second) == (0, 0)
    assert MARKETING_SENT_AT + 30 * DAY <= eligible < MARKETING_SENT_AT + 30 * DAY + dt.timedelta(hours=1)
    # Blocked lines add up to the pre-flight's blocked total.
    report = preflight_summary(send_request_preflight(send_request=upload_draft))
    assert len([row for row in rows if row["reason"] != "duplicate_in_audience"]) == report["blocked_total"]


def test_the_api_gives_the_same_list_and_another_department_nothing(support_api, marketing_api, upload_draft):
    url = f"/api/v1/send-requests/{upload_draft.public_id}/preflight/blocked"

    ours = support_api.get(url)
    theirs = marketing_api.get(url)
    unknown = marketing_api.get(f"/api/v1/send-requests/{uuid.uuid4()}/preflight/blocked")

    assert ours.status_code == 200
    assert support_api.get(url, HTTP_ACCEPT="text/csv").status_code == 200
    assert sorted(row["reason"] for row in rows_of(ours)) == ["duplicate_in_audience", "opted_out", "rule"]
    assert (theirs.status_code, unknown.status_code) == (404, 404)
    assert theirs.json()["code"] == unknown.json()["code"]
    assert "example.com" not in theirs.content.decode()


def test_a_submitted_request_has_no_blocked_list_but_its_decisions(support_api, alice_client, upload_draft):
    upload_draft.status = "submitted"
    upload_draft.save(update_fields=["status"])

    response = support_api.get(f"/api/v1/send-requests/{upload_draft.public_id}/preflight/blocked")
    page = alice_client.get(reverse("admin:surveys_sendrequest_blocked", args=[upload_draft.pk]), follow=True)

    assert response.status_code == 400 and "decisions" in response.json()["message"]
    assert "decisions explain every contact" in page.content.decode()


def test_another_departments_owner_cannot_download_it_from_the_admin(mallory_client, upload_draft):
    response = mallory_client.get(reverse("admin:surveys_sendrequest_blocked", args=[upload_draft.pk]))

    assert response.status_code == 404
