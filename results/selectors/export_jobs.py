"""Reading export jobs for the one who asks. A person sees the jobs they asked for; a department's
API key sees the jobs its department's keys asked for. Anyone else's job is a 404, exactly like a
missing one, so a job's id says nothing about another department."""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet

from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from results.errors import ExportJobRefused
from results.filters import ResultsFilter, responses_for
from results.models import ExportJob


def export_jobs_visible_to(actor: Actor) -> QuerySet[ExportJob]:
    if actor.api_key_id:
        return ExportJob.objects.filter(api_key__department_id__in=actor.department_ids)
    return ExportJob.objects.filter(created_by_id=actor.user_id, api_key__isnull=True)


def export_job_get(*, actor: Actor, public_id: uuid.UUID | str) -> ExportJob:
    """The actor's job; raises NotFound for another's or a missing one."""
    job = export_jobs_visible_to(actor).filter(public_id=public_id).first()
    if job is None:
        raise NotFound("No such export job.")
    return job


def export_job_file(*, actor: Actor, public_id: uuid.UUID | str) -> tuple[ExportJob, Path]:
    """The actor's finished job and its CSV file. Raises NotFound, ExportJobRefused (not done yet,
    or the file is gone)."""
    job = export_job_get(actor=actor, public_id=public_id)
    if job.state != ExportJob.State.DONE:
        raise ExportJobRefused(
            f"The export is {job.get_state_display().lower()}, not done.", code="export_job_not_done"
        )
    path = Path(job.file_path)
    if not path.is_file():
        raise ExportJobRefused("The export's file is no longer there; export again.", code="export_file_gone")
    return job, path


def export_is_large(*, actor: Actor, results_filter: ResultsFilter) -> bool:
    """Whether the filter holds more than RESULTS_EXPORT_JOB_ROWS responses: a count that stops just
    past the limit, so a million-response filter costs no more than a small one to decide."""
    limit = settings.RESULTS_EXPORT_JOB_ROWS
    responses = responses_for(actor, results_filter).order_by().values("pk")[: limit + 1]
    return responses.count() > limit


def export_filename(job: ExportJob) -> str:
    results_filter = job.results_filter
    return f"{job.kind}-{results_filter['start']}-to-{results_filter['end']}.csv"
