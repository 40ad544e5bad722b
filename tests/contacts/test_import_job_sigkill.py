"""A real worker process SIGKILLed (as the OOM killer does) in the middle of an import job: the job
is swept as failed once its lease has passed (the broker gives the task out again only after its
visibility timeout), the user resumes it, a new worker carries on after the last committed chunk,
and every row's person exists exactly once, none lost (issue 19)."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from contacts.importing.jobs import contact_import_jobs_sweep
from contacts.models import ContactImport, DepartmentContact, Identity
from tests.workers import CeleryProcess, wait_until

ROWS = 30_000
ENDED = ("completed", "failed", "cancelled")


def people_csv() -> bytes:
    lines = ["email,name"] + [f"person{n}@example.com,Person {n}" for n in range(1, ROWS + 1)]
    return ("\n".join(lines) + "\n").encode()


def status(job: ContactImport) -> str:
    return ContactImport.objects.get(pk=job.pk).status


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_import_is_resumed_and_every_row_lands_once(support, support_api, celery_worker):
    answer = support_api.post(
        "/api/v1/contacts/import",
        {"file": SimpleUploadedFile("people.csv", people_csv())},
        format="multipart",
    )
    assert answer.status_code == 202
    job = ContactImport.objects.get(pk=answer.json()["id"])
    wait_until(
        lambda: ContactImport.objects.get(pk=job.pk).rows_done >= 2000,
        timeout=120,
        interval=0.02,
        message="the worker to commit two chunks",
    )

    celery_worker.kill()  # SIGKILL to the worker and its pool, mid-chunk
    killed_at = ContactImport.objects.get(pk=job.pk).rows_done
    assert 0 < killed_at < ROWS
    replacement = CeleryProcess("worker").start()
    try:
        later = timezone.now() + dt.timedelta(hours=1)
        wait_until(
            lambda: (
                contact_import_jobs_sweep(now=later) or ContactImport.objects.get(pk=job.pk).status in ENDED
            ),
            timeout=60,
            interval=0.5,
            message="the sweeper to mark the dead worker's import failed",
        )
        swept = support_api.get(f"/api/v1/contacts/imports/{job.pk}").json()
        assert swept["status"] == "failed", swept
        assert f"after {killed_at} rows" in swept["error"]

        assert support_api.post(f"/api/v1/contacts/imports/{job.pk}/resume").status_code in (200, 202)
        wait_until(
            lambda: status(job) in ENDED,
            timeout=240,
            interval=0.2,
            message="the resumed import to end",
        )
    finally:
        output = replacement.stop()

    ended = support_api.get(f"/api/v1/contacts/imports/{job.pk}").json()
    assert ended["status"] == "completed", output[-2000:]
    assert ended["progress"] == {"rows_done": ROWS, "rows_total": ROWS, "percent": 100}
    emails = list(Identity.objects.filter(kind="email").values_list("normalised", flat=True))
    assert len(emails) == len(set(emails)) == ROWS
    assert set(emails) == {f"person{n}@example.com" for n in range(1, ROWS + 1)}
    assert DepartmentContact.objects.filter(department=support).count() == ROWS
