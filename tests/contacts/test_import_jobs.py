"""Contact imports as background jobs (issue 19): 202 and a progress field, the same outcome as the
command line, cancel, a worker killed mid-import that resumes with no row twice and none lost, the
sweeper for a worker that died, and the admin's progress page."""

import csv
import datetime as dt
import io
import re
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from contacts.importing import jobs, services
from contacts.importing.jobs import contact_import_cancel, contact_import_job_run, contact_import_jobs_sweep
from contacts.models import Contact, ContactImport, ContactImportIssue, DepartmentContact, Identity
from cxfeedback.background_jobs import run_lock
from departments.actors import Actor

URL = "/api/v1/contacts/import"
ROWS = 3000


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    # Three chunks of 1,000 rows: the last committed chunk is the 2nd when the 3rd breaks.
    monkeypatch.setattr(services, "CHUNK_ROWS", 1000)


def contacts_csv(rows: int = ROWS) -> str:
    """`rows` people, every 500th row without a valid email (an issue each)."""
    lines = ["email,name"]
    for n in range(1, rows + 1):
        lines.append(f"bad-{n}," if n % 500 == 0 else f"person{n}@example.com,Person {n}")
    return "\n".join(lines) + "\n"


def queue(api, text: str, **fields):
    return api.post(
        URL, {"file": SimpleUploadedFile("people.csv", text.encode()), **fields}, format="multipart"
    )


def command_line_counts(department, text: str, tmp_path) -> dict:
    path = tmp_path / "people.csv"
    path.write_text(text)
    call_command("import_contacts", str(path), "--department", department.slug, stdout=io.StringIO())
    return ContactImport.objects.filter(department=department).latest("pk").counts


class WorkerKilled(BaseException):
    """What a killed worker leaves behind: no except clause runs, nothing is marked."""


def kill_in_chunk(monkeypatch, chunk_number: int) -> None:
    """The worker dies while writing chunk `chunk_number` (its transaction never commits)."""
    chunk = services._ImportRun._chunk_write
    calls = {"n": 0}

    def dying(self, rows):
        calls["n"] += 1
        result = chunk(self, rows)
        if calls["n"] == chunk_number:
            raise WorkerKilled
        return result

    monkeypatch.setattr(services._ImportRun, "_chunk_write", dying)


def assert_each_row_once(support, contact_import: ContactImport) -> None:
    """Every valid row's person exactly once, each invalid row's issue exactly once."""
    emails = Identity.objects.filter(kind="email").values_list("normalised", flat=True)
    assert sorted(emails) == sorted(f"person{n}@example.com" for n in range(1, ROWS + 1) if n % 500)
    assert Contact.objects.count() == DepartmentContact.objects.filter(department=support).count() == 2994
    issues = ContactImportIssue.objects.filter(contact_import=contact_import)
    assert sorted(issues.values_list("row_number", flat=True)) == [n + 1 for n in range(500, ROWS + 1, 500)]


@pytest.mark.django_db(transaction=True)
def test_an_api_import_is_a_job_a_worker_runs_with_the_command_lines_outcome(
    support, marketing, support_api, celery_worker, tmp_path
):
    text = contacts_csv()

    response = queue(support_api, text)

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and response["Location"] == body["url"]
    assert body["progress"] == {"rows_done": 0, "rows_total": None, "percent": 0}
    deadline = time.monotonic() + 120
    seen = []
    while (job := support_api.get(body["url"]).json())["status"] in ("queued", "running"):
        seen.append(job["progress"]["rows_done"])
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    assert job["status"] == "completed", job
    assert job["progress"] == {"rows_done": ROWS, "rows_total": ROWS, "percent": 100}
    assert seen == sorted(seen)
    assert job["counts"] == command_line_counts(marketing, text, tmp_path)
    assert job["counts"]["created"] == 2994 and job["issues_total"] == 6
    assert [issue["row_number"] for issue in job["issues"]] == [501, 1001, 1501, 2001, 2501, 3001]


def test_a_dry_run_job_writes_nothing_and_is_previewed(support, support_api):
    response = queue(support_api, contacts_csv(), dry_run="true")

    contact_import_job_run(import_id=response.json()["id"])

    job = support_api.get(response["Location"]).json()
    assert job["status"] == "previewed" and job["dry_run"] is True
    assert job["counts"]["created"] == 2994 and job["issues_total"] == 6
    assert job["progress"]["rows_total"] == ROWS
    assert not Contact.objects.exists()


def test_a_worker_killed_mid_import_resumes_after_the_last_committed_chunk(support, support_api, monkeypatch):
    job_id = queue(support_api, contacts_csv()).json()["id"]
    kill_in_chunk(monkeypatch, 3)

    with pytest.raises(WorkerKilled):
        contact_import_job_run(import_id=job_id)

    contact_import = ContactImport.objects.get(pk=job_id)
    assert contact_import.status == ContactImport.Status.RUNNING  # nobody marked it: the worker died
    assert (contact_import.rows_done, contact_import.committed_row) == (2000, 2001)
    assert Contact.objects.count() == 1996  # two chunks, each with two invalid rows
    monkeypatch.undo()
    monkeypatch.setattr(services, "CHUNK_ROWS", 1000)

    contact_import_job_run(import_id=job_id)  # the broker's second delivery

    job = support_api.get(f"/api/v1/contacts/imports/{job_id}").json()
    assert job["status"] == "completed", job
    assert (
        job["counts"]["rows"] == ROWS and job["counts"]["created"] == 2994 and job["counts"]["invalid"] == 6
    )
    assert_each_row_once(support, contact_import)
    with open(ContactImport.objects.get(pk=job_id).report_file, newline="") as report:
        rows = [line["row"] for line in csv.DictReader(report)]
    assert rows == [str(n) for n in range(2, ROWS + 2)]  # every row's line once, in order


def test_the_sweeper_fails_an_import_whose_worker_died_and_resuming_finishes_it(
    support, support_api, monkeypatch
):
    job_id = queue(support_api, contacts_csv()).json()["id"]
    kill_in_chunk(monkeypatch, 2)
    with pytest.raises(WorkerKilled):
        contact_import_job_run(import_id=job_id)
    monkeypatch.undo()
    monkeypatch.setattr(services, "CHUNK_ROWS", 1000)

    assert contact_import_jobs_sweep(now=timezone.now()) == 0  # silent, but not for a lease yet
    later = timezone.now() + dt.timedelta(seconds=121)
    assert contact_import_jobs_sweep(now=later) == 1

    job = support_api.get(f"/api/v1/contacts/imports/{job_id}").json()
    assert job["status"] == "failed"
    assert job["error"].startswith("The worker running this import stopped (no progress for 120 seconds)")
    assert "after 1000 rows" in job["error"]
    resumed = support_api.post(f"/api/v1/contacts/imports/{job_id}/resume")
    assert resumed.status_code == 202 and resumed.json()["status"] == "queued"
    contact_import_job_run(import_id=job_id)
    assert support_api.get(f"/api/v1/contacts/imports/{job_id}").json()["status"] == "completed"
    assert_each_row_once(support, ContactImport.objects.get(pk=job_id))


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_leaves_an_import_a_live_worker_holds(support, support_api):
    job_id = queue(support_api, contacts_csv(10)).json()["id"]
    ContactImport.objects.filter(pk=job_id).update(status="running")
    with run_lock(jobs.RUN_LOCK_NAMESPACE, job_id) as held:  # a live worker's run, holding its lock
        assert held
        assert contact_import_jobs_sweep(now=timezone.now() + dt.timedelta(hours=1)) == 0
    assert contact_import_jobs_sweep(now=timezone.now() + dt.timedelta(hours=1)) == 1


def test_cancel_stops_the_import_at_its_next_chunk_and_resume_carries_on(support, support_api, monkeypatch):
    job_id = queue(support_api, contacts_csv()).json()["id"]
    chunk = services._ImportRun._chunk

    def cancelled_after_the_first_chunk(self, rows):
        chunk(self, rows)
        if self.counts["rows"] == 1000:  # the cancel commits while the second chunk is read
            contact_import_cancel(actor=Actor(department_ids=frozenset({support.pk})), import_id=job_id)

    monkeypatch.setattr(services._ImportRun, "_chunk", cancelled_after_the_first_chunk)

    contact_import_job_run(import_id=job_id)

    job = support_api.get(f"/api/v1/contacts/imports/{job_id}").json()
    assert job["status"] == "cancelled" and job["progress"]["rows_done"] == 1000
    assert Contact.objects.count() == 998  # the second chunk was rolled back
    assert support_api.post(f"/api/v1/contacts/imports/{job_id}/cancel").status_code == 409
    monkeypatch.undo()
    monkeypatch.setattr(services, "CHUNK_ROWS", 1000)
    assert support_api.post(f"/api/v1/contacts/imports/{job_id}/resume").status_code == 202
    contact_import_job_run(import_id=job_id)
    assert_each_row_once(support, ContactImport.objects.get(pk=job_id))


def test_a_queued_import_cancelled_through_the_api_never_runs(support, support_api):
    job_id = queue(support_api, contacts_csv(10)).json()["id"]

    response = support_api.post(f"/api/v1/contacts/imports/{job_id}/cancel")
    contact_import_job_run(import_id=job_id)

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert ContactImport.objects.get(pk=job_id).status == "cancelled"
    assert not Contact.objects.exists()


def test_job_endpoints_wrong_method_missing_and_another_departments(support, support_api, marketing_api):
    job_id = queue(support_api, contacts_csv(10)).json()["id"]
    detail = f"/api/v1/contacts/imports/{job_id}"

    assert support_api.delete(detail).status_code == 405
    assert support_api.get(f"{detail}/cancel").status_code == 405
    assert support_api.get("/api/v1/contacts/imports/999999").status_code == 404
    assert marketing_api.get(detail).json()["code"] == "not_found"
    assert marketing_api.post(f"{detail}/cancel").status_code == 404
    assert support_api.post(f"{detail}/resume").json()["code"] == "import_job_refused"  # queued: not failed
    assert ContactImport.objects.get(pk=job_id).status == "queued"


def test_a_rejected_file_is_a_400_at_once_and_queues_nothing(support, support_api):
    response = queue(support_api, "email,fax\na@example.com,1\n")

    assert response.status_code == 400 and "fax" in response.json()["message"]
    assert not ContactImport.objects.exists()


def test_the_admin_shows_a_running_imports_progress(
    support, alice_client, mallory_client, settings, tmp_path
):
    settings.CONTACT_IMPORT_DIR = tmp_path / "imports"
    upload = SimpleUploadedFile("people.csv", contacts_csv().encode())
    response = alice_client.post(
        reverse("admin:contacts_contact_import"), {"department": support.pk, "file": upload}
    )
    contact_import = ContactImport.objects.get()
    progress_url = reverse("admin:contacts_contact_import_progress", args=[contact_import.pk])
    assert response["Location"] == progress_url
    ContactImport.objects.filter(pk=contact_import.pk).update(
        status="running", rows_done=1000, rows_total=3000
    )

    page = alice_client.get(progress_url).content.decode()
    polled = alice_client.get(
        reverse("admin:contacts_contact_import_progress_json", args=[contact_import.pk])
    )

    assert re.search(r'<progress id="import-progress" max="100" value="33">', page)
    assert "1000 of 3000 rows" in page and "Running" in page
    assert polled.json() == {
        "status": "running",
        "status_display": "Running",
        "rows_done": 1000,
        "rows_total": 3000,
        "percent": 33,
        "next_url": "",
    }
    assert mallory_client.get(progress_url).status_code == 404
    cancelled = alice_client.post(reverse("admin:contacts_contact_import_cancel", args=[contact_import.pk]))
    assert cancelled["Location"] == reverse("admin:contacts_contact_import_result", args=[contact_import.pk])
    assert "next_url" in alice_client.get(polled.request["PATH_INFO"]).json()
    result = alice_client.get(cancelled["Location"]).content.decode()
    assert "Cancelled after 1000 of 3000 rows." in result  # a preview: nothing was imported
    assert "Preview again" in result
