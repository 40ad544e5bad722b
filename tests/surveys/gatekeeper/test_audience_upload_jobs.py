"""A send request's audience upload as a background job (issue 19): 202 and the job's URL, a real
worker running it, progress that moves through both stages, a worker killed in either stage that
resumes with no member twice and none missing, cancel, the sweeper, and no submit until the upload
has completed. What another department learns: tests/cxfeedback/test_department_privacy.py."""

import datetime as dt
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from contacts.importing import services
from contacts.models import Identity
from surveys.gatekeeper import audience_uploads
from surveys.gatekeeper.audience_uploads import audience_upload_run, audience_uploads_sweep
from surveys.models import AudienceMember, AudienceUpload, SendRequest
from tests import factories

ROWS = 3000
# Every 500th row has no valid email: 6 rows left out, 2,994 in the audience.
MEMBERS = [n + 1 for n in range(1, ROWS + 1) if n % 500]


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch, settings, tmp_path):
    # Three chunks of 1,000 rows in each stage.
    monkeypatch.setattr(services, "CHUNK_ROWS", 1000)
    monkeypatch.setattr(audience_uploads, "CHUNK_ROWS", 1000)
    settings.CONTACT_IMPORT_DIR = tmp_path


@pytest.fixture
def draft(support) -> SendRequest:
    survey = factories.SurveyFactory(department=support)
    return factories.SendRequestFactory(department=support, survey=survey, audience_kind="upload")


def people_csv(rows: int = ROWS) -> str:
    lines = ["email"] + [f"bad-{n}" if n % 500 == 0 else f"person{n}@example.com" for n in range(1, rows + 1)]
    return "\n".join(lines) + "\n"


def upload(api, draft: SendRequest, text: str):
    return api.post(
        f"/api/v1/send-requests/{draft.public_id}/audience",
        {"file": SimpleUploadedFile("list.csv", text.encode())},
        format="multipart",
    )


def run(response) -> None:
    """Run the upload's job in this process, as a worker would."""
    audience_upload_run(upload_id=AudienceUpload.objects.get(public_id=response.json()["id"]).pk)


def assert_audience_is_the_file(draft: SendRequest) -> None:
    """Each valid row once, naming the person of its email; every person imported once."""
    members = AudienceMember.objects.filter(send_request=draft)
    rows = sorted(members.values_list("row_number", "contact__identities__normalised"))
    assert rows == [(row, f"person{row - 1}@example.com") for row in MEMBERS]
    people = Identity.objects.filter(normalised__startswith="person")
    assert people.count() == people.values("contact").distinct().count() == len(MEMBERS)


class WorkerKilled(BaseException):
    """What a killed worker leaves behind: no except clause runs, nothing is marked."""


def dies_at_call(monkeypatch, owner, name: str, call: int) -> None:
    """`owner.name` kills the worker at its `call`-th call, after its work, before its commit."""
    original, calls = getattr(owner, name), {"n": 0}

    def dying(*args, **kwargs):
        result = original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == call:
            raise WorkerKilled
        return result

    monkeypatch.setattr(owner, name, dying)


@pytest.mark.django_db(transaction=True)
def test_a_worker_makes_the_uploaded_rows_the_audience(support, support_api, draft, celery_worker):
    response = upload(support_api, draft, people_csv())

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and response["Location"] == body["url"]
    assert body["progress"] == {"stage": "importing", "rows_done": 0, "rows_total": None, "percent": 0}
    deadline, seen = time.monotonic() + 120, []
    while (job := support_api.get(body["url"]).json())["status"] in ("queued", "running"):
        seen.append(job["progress"]["percent"])
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    assert job["status"] == "completed", job
    assert job["progress"] == {"stage": "audience", "rows_done": ROWS, "rows_total": ROWS, "percent": 100}
    assert seen == sorted(seen)
    assert job["members"] == len(MEMBERS) and job["contact_import"]["counts"]["invalid"] == 6
    assert_audience_is_the_file(draft)


def test_progress_moves_through_the_import_then_the_audience(support_api, draft, monkeypatch):
    response = upload(support_api, draft, people_csv())
    seen = []

    def shown(*args):
        progress = support_api.get(response["Location"]).json()["progress"]
        seen.append((progress["stage"], progress["rows_done"], progress["percent"]))

    for owner, name in ((services._ImportRun, "_chunk"), (audience_uploads, "_audience_chunk")):
        original = getattr(owner, name)
        monkeypatch.setattr(owner, name, lambda *args, original=original: (original(*args), shown()))

    run(response)

    assert seen == [
        ("importing", 1000, 16),
        ("importing", 2000, 33),
        ("importing", 3000, 50),
        ("audience", 1000, 66),
        ("audience", 2000, 83),
        ("audience", 3000, 100),
    ]
    assert support_api.get(response["Location"]).json()["status"] == "completed"


@pytest.mark.parametrize(
    "dies_in",
    [(services._ImportRun, "_chunk_write", 2), (audience_uploads, "audience_write", 2)],
    ids=["importing", "audience"],
)
def test_a_worker_killed_mid_upload_resumes_with_no_member_twice_or_missing(
    support_api, draft, monkeypatch, dies_in
):
    earlier = factories.known_contact(draft.department, email="earlier@example.com")
    AudienceMember.objects.create(send_request=draft, contact=earlier, row_number=2)  # the list before
    response = upload(support_api, draft, people_csv())
    dies_at_call(monkeypatch, *dies_in)

    with pytest.raises(WorkerKilled):
        run(response)

    job = AudienceUpload.objects.get(public_id=response.json()["id"])
    assert job.status == "running"  # nobody marked it: the worker died
    monkeypatch.undo()
    monkeypatch.setattr(services, "CHUNK_ROWS", 1000)
    monkeypatch.setattr(audience_uploads, "CHUNK_ROWS", 1000)

    run(response)  # the broker's second delivery

    assert support_api.get(response["Location"]).json()["status"] == "completed"
    assert_audience_is_the_file(draft)


def test_the_sweeper_fails_an_upload_whose_worker_died_and_resuming_finishes_it(
    support_api, draft, monkeypatch
):
    response = upload(support_api, draft, people_csv())
    original = audience_uploads.audience_write
    dies_at_call(monkeypatch, audience_uploads, "audience_write", 2)
    with pytest.raises(WorkerKilled):
        run(response)  # and the broker never hands the task to another worker
    monkeypatch.setattr(audience_uploads, "audience_write", original)

    assert audience_uploads_sweep(now=timezone.now()) == 0  # silent, but not for a lease yet
    assert audience_uploads_sweep(now=timezone.now() + dt.timedelta(seconds=121)) == 1

    job = support_api.get(response["Location"]).json()
    assert job["status"] == "failed"
    assert job["error"].startswith("The worker running this upload stopped (no progress for 120 seconds)")
    resumed = support_api.post(f"{response['Location']}/resume")
    assert resumed.status_code == 202 and resumed.json()["status"] == "queued"
    run(response)
    assert support_api.get(response["Location"]).json()["status"] == "completed"
    assert_audience_is_the_file(draft)


def test_no_submit_while_the_upload_is_unfinished_and_cancel_stops_it(support_api, draft, monkeypatch):
    submit = f"/api/v1/send-requests/{draft.public_id}/submit"
    response = upload(support_api, draft, people_csv())

    refused = support_api.post(submit)

    assert refused.status_code == 409 and refused.json()["code"] == "audience_upload_unfinished"
    assert "still being uploaded" in refused.json()["message"]
    second = upload(support_api, draft, people_csv(10))
    assert second.status_code == 409 and second.json()["code"] == "audience_upload_unfinished"

    original = audience_uploads._audience_chunk

    def cancelled_after_the_first_chunk(job, chunk):
        original(job, chunk)
        if job.rows_done == 1000:  # the cancel commits while the second chunk is read
            assert support_api.post(f"{response['Location']}/cancel").status_code == 200

    monkeypatch.setattr(audience_uploads, "_audience_chunk", cancelled_after_the_first_chunk)
    run(response)
    monkeypatch.setattr(audience_uploads, "_audience_chunk", original)

    job = support_api.get(response["Location"]).json()
    assert job["status"] == "cancelled" and job["progress"]["rows_done"] == 1000
    assert AudienceMember.objects.filter(send_request=draft).count() == 998
    refused = support_api.post(submit)
    assert refused.status_code == 409 and "was cancelled before it ended" in refused.json()["message"]
    again = support_api.post(f"{response['Location']}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "audience_upload_refused"

    assert support_api.post(f"{response['Location']}/resume").status_code == 202
    run(response)
    assert_audience_is_the_file(draft)
    assert support_api.post(submit).status_code == 200


def test_the_admin_follows_the_upload_and_cancels_it(alice_client, draft):
    preflight = reverse("admin:surveys_sendrequest_preflight", args=[draft.pk])
    alice_client.post(
        reverse("admin:surveys_sendrequest_audience", args=[draft.pk]),
        {"audience_file": SimpleUploadedFile("list.csv", people_csv().encode())},
    )
    job = AudienceUpload.objects.get(send_request=draft)
    AudienceUpload.objects.filter(pk=job.pk).update(status="running")
    job.contact_import.__class__.objects.filter(pk=job.contact_import_id).update(
        status="running", rows_total=ROWS, rows_done=1000
    )

    page = alice_client.get(preflight).text

    assert 'Importing the file&#x27;s contacts: <strong id="audience-upload-percent">16%</strong>' in page
    assert "(1000 of 3000 rows)" in page and "Submit once the audience upload has completed." in page
    alice_client.post(reverse("admin:surveys_sendrequest_audience-cancel", args=[draft.pk]))
    page = alice_client.get(preflight).text
    assert "Audience upload cancelled." in page and "The upload cancelled" in page
    assert 'value="Resume the upload"' in page


def test_another_departments_owner_cannot_see_or_stop_the_upload(alice_client, mallory_client, draft):
    alice_client.post(
        reverse("admin:surveys_sendrequest_audience", args=[draft.pk]),
        {"audience_file": SimpleUploadedFile("list.csv", people_csv(10).encode())},
    )

    for name in ("audience-cancel", "audience-resume", "audience"):
        answer = mallory_client.post(reverse(f"admin:surveys_sendrequest_{name}", args=[draft.pk]))
        assert answer.status_code == 404
    assert (
        mallory_client.get(reverse("admin:surveys_sendrequest_preflight", args=[draft.pk])).status_code == 404
    )
    assert AudienceUpload.objects.get(send_request=draft).status == "queued"
    alice_client.post(reverse("admin:surveys_sendrequest_audience-cancel", args=[draft.pk]))
    assert AudienceUpload.objects.get(send_request=draft).status == "cancelled"
