"""Results exports above RESULTS_EXPORT_JOB_ROWS responses run as background jobs (issue 19): the
file is the streamed export byte for byte, progress is stored chunk by chunk, a crashed run resumes
after its last committed chunk with no row twice and none missing, cancel stops it, the sweeper
re-queues or fails a silent job, and another department's job is a 404 like a missing one."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from django.utils import timezone

from cxfeedback.background_jobs import run_lock
from results import exports
from results.models import ExportJob
from results.services.export_jobs import (
    EXPORT_LEASE,
    EXPORT_MAX_ATTEMPTS,
    RUN_LOCK_NAMESPACE,
    export_job_run,
    export_jobs_sweep,
)
from tests.results.drill import answered, feedback_survey
from tests.workers import wait_until

EXPORT = "/admin/results/export/responses.csv"
SUMMARY = "/admin/results/export/summary.csv"
JOBS = "/api/v1/results/export-jobs"
RESPONSES = 5
CHUNK = 2  # rows per chunk here, so five responses take three chunks


class WorkerKilled(BaseException):
    """What a SIGKILL looks like to the run: it stops where it is, nothing after runs."""


@pytest.fixture
def small_chunks(monkeypatch, settings, tmp_path):
    monkeypatch.setattr(exports, "FETCH_ROWS", CHUNK)
    settings.RESULTS_EXPORT_DIR = tmp_path


@pytest.fixture
def responses(support):
    survey = feedback_survey(support, name="Router repair check")
    comments = ["Great", '=HYPERLINK("http://evil.example","x")', "Très bien 👍", "-2+3", ""]
    return [answered(survey, nps=n, comment=comment) for n, comment in enumerate(comments)]


def streamed(client, url: str = EXPORT) -> bytes:
    response = client.get(url)
    assert response.status_code == 200 and response.streaming
    return b"".join(response.streaming_content)


def job_started(client, settings, url: str = EXPORT) -> ExportJob:
    """The export link with the threshold below the filter's responses: a job and its page."""
    settings.RESULTS_EXPORT_JOB_ROWS = RESPONSES - 1
    response = client.get(url)
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert response["Location"] == f"/admin/results/export/jobs/{job.public_id}/"
    return job


def downloaded(client, job: ExportJob) -> bytes:
    response = client.get(f"/admin/results/export/jobs/{job.public_id}/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return b"".join(response.streaming_content)


def chunks_watched(monkeypatch, on_call):
    """Call `on_call(number)` before each chunk the job reads (1, 2, …)."""
    read_chunk = exports.response_chunk
    calls = []

    def watched(*args, **kwargs):
        calls.append(len(calls) + 1)
        on_call(len(calls))
        return read_chunk(*args, **kwargs)

    monkeypatch.setattr(exports, "response_chunk", watched)
    return calls


def test_a_small_export_still_streams(alice_client, responses, small_chunks):
    assert streamed(alice_client).count(b"\r\n") == RESPONSES + 1
    assert not ExportJob.objects.exists()


def test_a_large_export_is_a_job_whose_file_is_the_streamed_export(
    alice_client, responses, small_chunks, settings
):
    expected = streamed(alice_client)
    job = job_started(alice_client, settings)

    export_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.state, job.rows_done, job.rows_total, job.percent) == ("done", RESPONSES, RESPONSES, 100)
    assert downloaded(alice_client, job) == expected
    assert b"'=HYPERLINK" in expected  # the formula neutralised in the job's file too


def test_the_summary_export_as_a_job_is_the_streamed_one(alice_client, responses, small_chunks, settings):
    expected = streamed(alice_client, SUMMARY)
    job = job_started(alice_client, settings, SUMMARY)

    export_job_run(job_id=job.pk)

    assert downloaded(alice_client, job) == expected


def test_progress_is_stored_after_every_chunk(alice_client, responses, small_chunks, settings, monkeypatch):
    job = job_started(alice_client, settings)
    seen = []
    chunks_watched(monkeypatch, lambda _: seen.append(ExportJob.objects.get(pk=job.pk).rows_done))

    export_job_run(job_id=job.pk)

    # Before each chunk: what the earlier chunks committed; the last read finds nothing more.
    assert seen == [0, 2, 4, 5]


def test_a_run_killed_mid_job_resumes_with_no_row_twice_and_none_missing(
    alice_client, responses, small_chunks, settings, monkeypatch
):
    expected = streamed(alice_client)
    job = job_started(alice_client, settings)

    def killed_at_third_chunk(number):
        if number == 3:
            raise WorkerKilled

    chunks_watched(monkeypatch, killed_at_third_chunk)
    with pytest.raises(WorkerKilled):
        export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.state, job.rows_done) == ("running", 4)
    with Path(job.file_path).open("ab") as file:  # a chunk written, never committed, longer than the rest
        file.write(b"999,a row never committed\r\n" * 1000)
    monkeypatch.undo()
    monkeypatch.setattr(exports, "FETCH_ROWS", CHUNK)

    export_job_run(job_id=job.pk)  # the broker's second delivery

    job.refresh_from_db()
    assert (job.state, job.rows_done, job.attempts) == ("done", RESPONSES, 2)
    assert downloaded(alice_client, job) == expected


def test_cancel_stops_the_job_before_its_next_chunk(
    alice, alice_client, responses, small_chunks, settings, monkeypatch
):
    job = job_started(alice_client, settings)

    def cancelled_at_second_chunk(number):
        if number == 2:
            assert alice_client.post(f"/admin/results/export/jobs/{job.public_id}/cancel/").status_code == 302

    calls = chunks_watched(monkeypatch, cancelled_at_second_chunk)
    export_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.state == "cancelled" and job.rows_done == CHUNK
    assert calls == [1, 2]  # the chunk read when it was cancelled is the last
    assert not Path(job.file_path).exists()
    page = alice_client.get(f"/admin/results/export/jobs/{job.public_id}/").content.decode()
    assert "Cancelled" in page and "Download" not in page


def test_the_sweeper_requeues_a_silent_job_then_fails_it(alice_client, responses, small_chunks, settings):
    job = job_started(alice_client, settings)
    silent_since = timezone.now() - dt.timedelta(seconds=EXPORT_LEASE + 1)
    ExportJob.objects.filter(pk=job.pk).update(state="running", attempts=1, progress_at=silent_since)

    assert export_jobs_sweep() == 1
    assert ExportJob.objects.get(pk=job.pk).state == "queued"

    ExportJob.objects.filter(pk=job.pk).update(
        state="running", attempts=EXPORT_MAX_ATTEMPTS, progress_at=silent_since
    )
    assert export_jobs_sweep() == 1
    job.refresh_from_db()
    assert job.state == "failed" and "worker running this export stopped" in job.error
    page = alice_client.get(f"/admin/results/export/jobs/{job.public_id}/").content.decode()
    assert "worker running this export stopped" in page


def test_the_sweeper_leaves_a_job_that_moves(alice_client, responses, small_chunks, settings):
    job = job_started(alice_client, settings)
    ExportJob.objects.filter(pk=job.pk).update(state="running", progress_at=timezone.now())

    assert export_jobs_sweep() == 0
    assert ExportJob.objects.get(pk=job.pk).state == "running"


def test_the_sweeper_leaves_a_silent_job_whose_worker_still_holds_it(
    alice_client, responses, small_chunks, settings
):
    job = job_started(alice_client, settings)
    silent_since = timezone.now() - dt.timedelta(seconds=EXPORT_LEASE + 1)
    ExportJob.objects.filter(pk=job.pk).update(state="running", attempts=1, progress_at=silent_since)
    with run_lock(RUN_LOCK_NAMESPACE, job.pk) as held:  # a slow worker's run, holding its lock
        assert held
        assert export_jobs_sweep() == 0
    assert ExportJob.objects.get(pk=job.pk).state == "running"


def test_the_admin_page_shows_a_progress_bar_then_the_download(
    alice_client, responses, small_chunks, settings
):
    job = job_started(alice_client, settings)
    ExportJob.objects.filter(pk=job.pk).update(state="running", rows_done=2, rows_total=RESPONSES)

    page = alice_client.get(f"/admin/results/export/jobs/{job.public_id}/").content.decode()
    assert '<progress id="export-progress" max="100" value="40">' in page
    assert "2 of 5 rows" in page
    assert 'http-equiv="refresh"' in page and 'value="Cancel"' in page and "Download" not in page

    export_job_run(job_id=job.pk)
    page = alice_client.get(f"/admin/results/export/jobs/{job.public_id}/").content.decode()
    assert 'value="100"' in page and "Download the CSV" in page and 'http-equiv="refresh"' not in page


def test_another_persons_job_is_a_404_in_the_admin(
    alice_client, mallory_client, responses, small_chunks, settings
):
    job = job_started(alice_client, settings)
    export_job_run(job_id=job.pk)
    base = f"/admin/results/export/jobs/{job.public_id}/"
    missing = f"/admin/results/export/jobs/{uuid.uuid4()}/"

    for suffix in ("", "download/"):
        assert mallory_client.get(base + suffix).status_code == 404
        assert mallory_client.get(missing + suffix).status_code == 404
    assert mallory_client.post(base + "cancel/").status_code == 404
    assert ExportJob.objects.get(pk=job.pk).state == "done"


# The API


def test_the_api_answers_202_with_the_jobs_url_and_its_progress(support_api, responses, small_chunks):
    answer = support_api.post(JOBS, {"kind": "responses"}, format="json")

    assert answer.status_code == 202
    body = answer.json()
    assert answer["Location"] == body["url"] and body["url"].endswith(f"{JOBS}/{body['id']}")
    assert body["state"] == "queued" and body["download_url"] is None
    export_job_run(job_id=ExportJob.objects.get().pk)
    done = support_api.get(answer["Location"]).json()
    assert done["state"] == "done"
    assert done["progress"] == {"rows_done": RESPONSES, "rows_total": RESPONSES, "percent": 100}
    csv = support_api.get(done["download_url"])
    assert csv.status_code == 200
    assert b"".join(csv.streaming_content).count(b"\r\n") == RESPONSES + 1


def test_the_api_refuses_bad_input_and_wrong_methods(support_api, marketing):
    assert support_api.put(JOBS, {"kind": "responses"}, format="json").status_code == 405
    no_kind = support_api.post(JOBS, {}, format="json")
    assert no_kind.status_code == 400 and no_kind.json()["code"] == "invalid"
    others = support_api.post(JOBS, {"kind": "responses", "department": marketing.slug}, format="json")
    assert others.status_code == 400 and "department" in str(others.json()["extra"])
    assert not ExportJob.objects.exists()


def test_cancel_through_the_api_and_a_second_cancel_is_a_conflict(support_api, responses, small_chunks):
    url = support_api.post(JOBS, {"kind": "summary"}, format="json")["Location"]

    cancelled = support_api.post(url + "/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert support_api.get(url).json()["state"] == "cancelled", "the job stays, cancelled"
    again = support_api.post(url + "/cancel")
    assert again.status_code == 409 and again.json()["code"] == "export_job_refused"
    assert support_api.delete(url).status_code == 405
    assert support_api.get(url + "/download").status_code == 409


def test_another_departments_job_is_like_a_missing_one_to_its_key(
    support_api, marketing_api, responses, small_chunks
):
    url = support_api.post(JOBS, {"kind": "responses"}, format="json")["Location"]
    export_job_run(job_id=ExportJob.objects.get().pk)
    missing = url.rsplit("/", 1)[0] + f"/{uuid.uuid4()}"

    for path in (url, url + "/download"):
        theirs, nobodys = marketing_api.get(path), marketing_api.get(missing + path[len(url) :])
        assert theirs.status_code == nobodys.status_code == 404
        assert theirs.json() == nobodys.json()
    theirs, nobodys = marketing_api.post(url + "/cancel"), marketing_api.post(missing + "/cancel")
    assert theirs.status_code == nobodys.status_code == 404 and theirs.json() == nobodys.json()
    assert ExportJob.objects.get().state == "done"


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_job(support, support_api, celery_worker):
    survey = feedback_survey(support)
    for nps in range(3):
        answered(survey, nps=nps)

    url = support_api.post(JOBS, {"kind": "responses"}, format="json")["Location"]

    wait_until(
        lambda: support_api.get(url).json()["state"] not in ("queued", "running"),
        timeout=60,
        interval=0.2,
        message="the export job to end",
    )
    done = support_api.get(url).json()
    assert done["state"] == "done", done
    assert done["progress"]["rows_done"] == 3


def test_an_old_exports_file_is_deleted_and_its_download_says_so(
    alice_client, responses, small_chunks, settings
):
    job = job_started(alice_client, settings)
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    later = job.finished_at + dt.timedelta(days=settings.IMPORT_FILE_RETENTION_DAYS, seconds=1)

    export_jobs_sweep(now=later - dt.timedelta(seconds=2))
    assert Path(job.file_path).is_file()
    export_jobs_sweep(now=later)

    assert not Path(job.file_path).exists()
    page = alice_client.get(f"/admin/results/export/jobs/{job.public_id}/download/", follow=True)
    assert "no longer there" in page.content.decode()
