"""REST API v1: results exports as background jobs (results/services/export_jobs.py). POST answers
202 with the job's URL; GET there gives its state and progress, and the download's URL once it is
done; DELETE cancels it. An API key sees its own department's jobs only: another department's job
answers 404, like a missing one. Thin: the services decide."""

from __future__ import annotations

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.models import Channel
from cxfeedback.exceptions import error_responses
from departments.actors import actor_for_request
from results.api.summary import ResultsFilterQuery
from results.models import ExportJob
from results.selectors.export_jobs import export_filename, export_job_file, export_job_get
from results.services.export_jobs import export_job_cancel, export_job_queue
from surveys.models import SurveyKind


class ExportJobInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=ExportJob.Kind.choices,
        help_text="responses: one row per response; summary: the dashboard's tables.",
    )
    start = serializers.DateField(
        required=False, help_text="First day of the period (default: end − 365 days)."
    )
    end = serializers.DateField(
        required=False, help_text="Last day of the period, included (default: today)."
    )
    department = serializers.CharField(required=False, help_text="A department's slug (an API key: its own).")
    survey = serializers.IntegerField(required=False, help_text="A survey's id: every version of it counts.")
    survey_kind = serializers.ChoiceField(choices=SurveyKind.choices, required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)


class ExportJobProgressSerializer(serializers.Serializer):
    rows_done = serializers.IntegerField(help_text="Rows written so far (stored after each chunk).")
    rows_total = serializers.IntegerField(allow_null=True, help_text="Null until the job has counted them.")
    percent = serializers.IntegerField(help_text="rows_done of rows_total, 0–100.")


class ExportJobSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    url = serializers.SerializerMethodField(help_text="Poll this for the job's state and progress.")
    kind = serializers.CharField()
    state = serializers.CharField(help_text="queued, running, then done; failed (see error) or cancelled.")
    progress = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField(help_text="The CSV, once the state is done; else null.")
    error = serializers.CharField(help_text="Why a failed export stopped.")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_url(self, job: ExportJob) -> str:
        return self._absolute(reverse("results-export-job-detail", args=[job.public_id]))

    @extend_schema_field(ExportJobProgressSerializer)
    def get_progress(self, job: ExportJob) -> dict:
        return {"rows_done": job.rows_done, "rows_total": job.rows_total, "percent": job.percent}

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_download_url(self, job: ExportJob) -> str | None:
        if job.state != ExportJob.State.DONE:
            return None
        return self._absolute(reverse("results-export-job-download", args=[job.public_id]))


JOB_EXAMPLE = OpenApiExample(
    "A running export",
    value={
        "id": "0b7f1c1e-8d0e-4a3c-9a43-3a4f6f2f1b90",
        "url": "https://cx.example.com/api/v1/results/export-jobs/0b7f1c1e-8d0e-4a3c-9a43-3a4f6f2f1b90",
        "kind": "responses",
        "state": "running",
        "progress": {"rows_done": 42000, "rows_total": 120000, "percent": 35},
        "download_url": None,
        "error": "",
        "created_at": "2026-12-06T10:15:00Z",
        "finished_at": None,
    },
    response_only=True,
)


def _job_response(request: Request, job: ExportJob, code: int) -> Response:
    body = ExportJobSerializer(job, context={"request": request}).data
    headers = {"Location": body["url"]} if code == status.HTTP_202_ACCEPTED else None
    return Response(body, status=code, headers=headers)


class ExportJobApi(APIView):
    @extend_schema(
        operation_id="results_export_job_create",
        summary="Export results as CSV (a background job)",
        description="Queues the export of what the filter holds: 202 with the job, whose `url` tells "
        "its progress and, once done, its `download_url`. The CSV is the admin's export, byte for byte. "
        "A filter outside what the caller may see is a 400.",
        request=ExportJobInputSerializer,
        examples=[
            OpenApiExample(
                "Every response of March",
                value={"kind": "responses", "start": "2026-03-01", "end": "2026-03-31"},
                request_only=True,
            ),
            JOB_EXAMPLE,
        ],
        responses={202: ExportJobSerializer, **error_responses(400, 401, 403)},
    )
    def post(self, request: Request) -> Response:
        serializer = ExportJobInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actor = actor_for_request(request)
        filter_data = {name: value for name, value in request.data.items() if name != "kind"}
        form = ResultsFilterQuery(filter_data, actor=actor)
        if not form.is_valid():
            raise ValidationError(
                {
                    "non_field_errors" if name == "__all__" else name: list(errors)
                    for name, errors in form.errors.items()
                }
            )
        job = export_job_queue(
            actor=actor, results_filter=form.results_filter(), kind=serializer.validated_data["kind"]
        )
        return _job_response(request, job, status.HTTP_202_ACCEPTED)


class ExportJobDetailApi(APIView):
    @extend_schema(
        operation_id="results_export_job_detail",
        summary="An export job's state and progress",
        examples=[JOB_EXAMPLE],
        responses={200: ExportJobSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, public_id) -> Response:
        job = export_job_get(actor=actor_for_request(request), public_id=public_id)
        return _job_response(request, job, status.HTTP_200_OK)


class ExportJobCancelApi(APIView):
    # A POST to .../cancel, as every other job's cancel: the job stays, cancelled, and its page says so
    # (a DELETE would promise that the job is gone).
    @extend_schema(
        operation_id="results_export_job_cancel",
        summary="Cancel a queued or running export job",
        description="It stops before its next chunk and its file is deleted; the job stays, cancelled. "
        "409 if it has ended.",
        request=None,
        responses={200: ExportJobSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, public_id) -> Response:
        job = export_job_cancel(actor=actor_for_request(request), public_id=public_id)
        return _job_response(request, job, status.HTTP_200_OK)


class ExportJobDownloadApi(APIView):
    @extend_schema(
        operation_id="results_export_job_download",
        summary="Download a finished export's CSV",
        description="UTF-8 with a byte order mark. 409 while the job has not finished.",
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="The CSV file."),
            **error_responses(401, 403, 404, 409),
        },
    )
    def get(self, request: Request, public_id) -> FileResponse:
        job, path = export_job_file(actor=actor_for_request(request), public_id=public_id)
        response = FileResponse(path.open("rb"), as_attachment=True, filename=export_filename(job))
        response["Content-Type"] = "text/csv; charset=utf-8"
        return response
