"""CSV imports of touches other tools sent (issue 16), as background jobs: 202 and the job's URL,
a real worker recording them, row errors by row and column, idempotent rows, a worker killed
mid-import that resumes with no touch twice and none lost, cancel, and what another department
learns (nothing)."""

import datetime as dt
import time
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from surveys.external import imports
from surveys.external.imports import touch_import_run, touch_imports_sweep
from surveys.models import TouchImport
from tests import factories

URL = "/api/v1/touches/imports"
HEADER = "external_id,source_tool,survey_kind,channel,at,email"


@pytest.fixture(autouse=True)
def import_directory(settings, tmp_path):
    settings.CONTACT_IMPORT_DIR = tmp_path / "imports"


def queue(api, text: str):
    return api.post(URL, {"file": SimpleUploadedFile("touches.csv", text.encode())}, format="multipart")


def touches_counted(department) -> int:
    """External touches of the department, read with SQL of our own: the invitations they count as."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM surveys_externaltouch t
               JOIN surveys_invitation i ON i.id = t.invitation_id
               WHERE t.department_id = %s AND i.sent_at IS NOT NULL""",
            [department.pk],
        )
        return cursor.fetchone()[0]


def many_rows(count: int) -> str:
    lines = [HEADER] + [
        f"Q-{n},Qualtrics,transactional,email,2026-11-0{1 + n % 9}T09:30:00Z,p{n % 5}@example.com"
        for n in range(1, count + 1)
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def people(support):
    return [factories.known_contact(support, email=f"p{n}@example.com") for n in range(5)]


@pytest.mark.django_db(transaction=True)
def test_a_worker_records_the_file_reporting_bad_rows_by_row_and_column(
    support, marketing, support_api, people, celery_worker
):
    factories.known_contact(marketing, email="theirs@example.com")
    text = (
        f"{HEADER}\n"
        "Q-1,Qualtrics,transactional,email,2026-11-02T09:30:00Z,p0@example.com\n"
        "Q-2,Qualtrics,relationship,sms,2026-11-03T10:00:00+01:00,p1@example.com\n"
        "Q-1,Qualtrics,transactional,email,2026-11-02T09:30:00Z,p0@example.com\n"
        "Q-3,Qualtrics,transactional,email,yesterday,p2@example.com\n"
        "Q-4,Qualtrics,transactional,email,2026-11-02T09:30:00Z,theirs@example.com\n"
    )

    response = queue(support_api, text)

    assert response.status_code == 202, response.content
    assert response["Location"] == response.json()["url"]
    deadline = time.monotonic() + 60
    while (job := support_api.get(response["Location"]).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    assert job["status"] == "completed", job
    assert job["counts"] == {"recorded": 2, "replayed": 1, "rejected": 2}
    assert job["progress"] == {"rows_done": 5, "rows_total": 5, "percent": 100}
    assert [(i["row"], i["column"]) for i in job["issues"]] == [(5, "at"), (6, "email")]
    assert touches_counted(support) == 2


def test_the_same_file_twice_records_each_touch_once(support, support_api, people):
    for _ in range(2):
        job_id = TouchImport.objects.get(public_id=queue(support_api, many_rows(30)).json()["id"]).pk
        touch_import_run(job_id=job_id)

    last = TouchImport.objects.get(pk=job_id)
    assert last.counts == {"recorded": 0, "replayed": 30, "rejected": 0}
    assert touches_counted(support) == 30


class WorkerKilled(BaseException):
    """What a killed worker leaves behind: no except clause runs, nothing is marked."""


def test_a_worker_killed_mid_import_resumes_after_the_last_committed_chunk(
    support, support_api, people, monkeypatch
):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 10)
    job = TouchImport.objects.get(public_id=queue(support_api, many_rows(35)).json()["id"])
    chunk, calls = imports._chunk, {"n": 0}

    def dying(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise WorkerKilled
        chunk(*args)

    monkeypatch.setattr(imports, "_chunk", dying)
    with pytest.raises(WorkerKilled):
        touch_import_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.rows_done, job.committed_row) == ("running", 20, 21)
    assert touches_counted(support) == 20

    monkeypatch.setattr(imports, "_chunk", chunk)
    touch_import_run(job_id=job.pk)  # the broker's second delivery

    job.refresh_from_db()
    assert job.status == "completed" and job.counts == {"recorded": 35, "replayed": 0, "rejected": 0}
    assert touches_counted(support) == 35
    assert not job.stored_file


def test_the_sweeper_fails_an_import_whose_worker_died_and_resuming_finishes_it(
    support, support_api, people, monkeypatch
):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 10)
    response = queue(support_api, many_rows(35))
    job = TouchImport.objects.get(public_id=response.json()["id"])
    chunk, calls = imports._chunk, {"n": 0}

    def dying(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise WorkerKilled
        chunk(*args)

    monkeypatch.setattr(imports, "_chunk", dying)
    with pytest.raises(WorkerKilled):
        touch_import_run(job_id=job.pk)  # and the broker never hands the task to another worker
    monkeypatch.setattr(imports, "_chunk", chunk)

    assert touch_imports_sweep(now=timezone.now()) == 0  # silent, but not for a lease yet
    assert touch_imports_sweep(now=timezone.now() + dt.timedelta(seconds=121)) == 1

    failed = support_api.get(response["Location"]).json()
    assert failed["status"] == "failed"
    assert failed["error"].startswith("The worker running this import stopped (no progress for 120 seconds)")
    assert "after 10 rows" in failed["error"]
    assert support_api.post(f"{response['Location']}/resume").status_code == 202
    touch_import_run(job_id=job.pk)
    assert support_api.get(response["Location"]).json()["status"] == "completed"
    assert touches_counted(support) == 35


def test_the_sweeper_queues_again_an_import_whose_message_was_lost(
    support, support_api, people, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as published:
        job = TouchImport.objects.get(public_id=queue(support_api, many_rows(3)).json()["id"])
    assert len(published) == 1  # the message the broker then loses
    TouchImport.objects.filter(pk=job.pk).update(progress_at=timezone.now() - dt.timedelta(seconds=121))

    with django_capture_on_commit_callbacks() as published:
        assert touch_imports_sweep() == 0

    assert len(published) == 1
    job.refresh_from_db()
    assert job.status == "queued" and job.progress_at > timezone.now() - dt.timedelta(seconds=5)


def test_cancel_stops_a_queued_import_and_resume_finishes_it(support, support_api, people):
    body = queue(support_api, many_rows(3)).json()

    cancelled = support_api.post(f"{URL}/{body['id']}/cancel")
    again = support_api.post(f"{URL}/{body['id']}/cancel")
    touch_import_run(job_id=TouchImport.objects.get(public_id=body["id"]).pk)

    assert cancelled.json()["status"] == "cancelled" and again.status_code == 409
    assert touches_counted(support) == 0
    resumed = support_api.post(f"{URL}/{body['id']}/resume")
    assert resumed.status_code == 202
    touch_import_run(job_id=TouchImport.objects.get(public_id=body["id"]).pk)
    assert support_api.get(body["url"]).json()["status"] == "completed"
    assert touches_counted(support) == 3


def test_a_file_with_a_missing_column_is_refused_at_once(support_api):
    response = queue(support_api, "external_id,email\nQ-1,p0@example.com\n")

    assert response.status_code == 400
    assert "source_tool" in response.json()["message"]
    assert not TouchImport.objects.exists()


def test_another_department_learns_nothing_of_an_import(support, support_api, marketing_api, people):
    body = queue(support_api, many_rows(3)).json()
    touch_import_run(job_id=TouchImport.objects.get(public_id=body["id"]).pk)
    nobody = f"{URL}/{uuid.uuid4()}"

    for suffix, method in (("", "get"), ("/cancel", "post"), ("/resume", "post")):
        theirs = getattr(marketing_api, method)(f"{URL}/{body['id']}{suffix}")
        none = getattr(marketing_api, method)(f"{nobody}{suffix}")
        assert theirs.status_code == none.status_code == 404
        assert theirs.json()["message"] == none.json()["message"]


def test_marketing_cannot_record_touches_of_supports_contacts_by_import(
    support, marketing, marketing_api, people
):
    body = queue(marketing_api, many_rows(5)).json()
    touch_import_run(job_id=TouchImport.objects.get(public_id=body["id"]).pk)

    job = marketing_api.get(body["url"]).json()
    assert job["counts"] == {"recorded": 0, "replayed": 0, "rejected": 5}
    assert {issue["message"] for issue in job["issues"]} == {
        "No contact of this department has these identities."
    }
    assert touches_counted(support) == touches_counted(marketing) == 0
