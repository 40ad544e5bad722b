"""REST API v1: a CSV of touches other tools sent, imported as a background job
(surveys/external/imports.py): 202 with the job's URL, then its progress and outcome there; cancel
and resume. Thin: the services decide. Posting the same file again records nothing twice: each row
is idempotent by (source_tool, external_id).
"""

from __future__ import annotations

import uuid

from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cxfeedback.exceptions import error_responses
from departments.actors import actor_for_request
from departments.api import acting_department
from surveys.api.inputs import DEPARTMENT_HELP
from surveys.external.import_rows import CONTACT_COLUMNS, OPTIONAL, REQUIRED
from surveys.external.imports import (
    CHUNK_ROWS,
    MAX_ISSUES,
    touch_import_cancel,
    touch_import_get,
    touch_import_queue,
    touch_import_resume,
)
from surveys.models import TouchImport


class TouchImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,
        help_text=f"CSV, UTF-8. Columns: {', '.join(REQUIRED)} (`at`: ISO 8601 with its offset), and the "
        f"contact by one of {', '.join(CONTACT_COLUMNS)} (with {', '.join(OPTIONAL)}).",
    )
    department = serializers.SlugField(required=False, help_text=DEPARTMENT_HELP)


class TouchImportIssueSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="As a spreadsheet shows it: the header is row 1.")
    column = serializers.CharField(help_text="As the file's header writes it.")
    message = serializers.CharField()


class TouchImportCountsSerializer(serializers.Serializer):
    recorded = serializers.IntegerField(help_text="New touches.")
    replayed = serializers.IntegerField(help_text="Rows naming a touch already recorded (same tool and id).")
    rejected = serializers.IntegerField(help_text="Rows not recorded: see issues.")


class TouchImportProgressSerializer(serializers.Serializer):
    rows_done = serializers.IntegerField(
        help_text=f"Rows read so far (stored after each chunk of {CHUNK_ROWS})."
    )
    rows_total = serializers.IntegerField(allow_null=True, help_text="Rows in the file; null until counted.")
    percent = serializers.IntegerField(help_text="rows_done of rows_total, 0–100.")


class TouchImportJobSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    url = serializers.SerializerMethodField(help_text="Poll this for the job's progress and outcome.")
    status = serializers.ChoiceField(
        choices=TouchImport.Status.choices,
        help_text="queued, running, then completed; failed (see error) or cancelled, which resume after "
        "their last committed row.",
    )
    department = serializers.CharField(source="department.slug")
    filename = serializers.CharField()
    progress = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()
    issues = TouchImportIssueSerializer(many=True, help_text=f"The first {MAX_ISSUES} rows refused.")
    error = serializers.CharField(help_text="Why a failed import stopped.")
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)

    def get_url(self, job: TouchImport) -> str:
        path = reverse("external-touch-import-detail", args=[job.public_id])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    @extend_schema_field(TouchImportProgressSerializer)
    def get_progress(self, job: TouchImport) -> dict:
        done, total = job.rows_done, job.rows_total
        percent = min(100, done * 100 // total) if total else (100 if job.status == "completed" else 0)
        return {"rows_done": done, "rows_total": total, "percent": percent}

    @extend_schema_field(TouchImportCountsSerializer)
    def get_counts(self, job: TouchImport) -> dict:
        return {"recorded": 0, "replayed": 0, "rejected": 0} | job.counts


JOB_EXAMPLE = {
    "id": "6f1c0f3e-2b8a-4d8e-9c51-0b7f4c7f2a10",
    "url": "https://cx.example.com/api/v1/touches/imports/6f1c0f3e-2b8a-4d8e-9c51-0b7f4c7f2a10",
    "status": "completed",
    "department": "support",
    "filename": "qualtrics-november.csv",
    "progress": {"rows_done": 1200, "rows_total": 1200, "percent": 100},
    "counts": {"recorded": 1180, "replayed": 19, "rejected": 1},
    "issues": [
        {
            "row": 37,
            "column": "at",
            "message": "'yesterday' is not a time with its offset, such as 2026-11-02T09:30:00Z.",
        }
    ],
    "error": "",
    "created_at": "2026-11-30T08:00:00Z",
    "completed_at": "2026-11-30T08:00:41Z",
}
EXAMPLES = [
    OpenApiExample(
        "A CSV of touches",
        request_only=True,
        media_type="multipart/form-data",
        value={
            "file": "external_id,source_tool,survey_kind,channel,at,email\n"
            "SV_4YQ-0001,Qualtrics,transactional,email,2026-11-02T09:30:00Z,ann@example.com\n"
        },
    ),
    OpenApiExample("The import's job", response_only=True, status_codes=["200", "202"], value=JOB_EXAMPLE),
]


def _job_response(request: Request, job: TouchImport, code: int) -> Response:
    body = TouchImportJobSerializer(job, context={"request": request}).data
    headers = {"Location": body["url"]} if code == status.HTTP_202_ACCEPTED else None
    return Response(body, status=code, headers=headers)


class TouchImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="external_touch_import",
        summary="Import touches other tools sent, from CSV (a background job)",
        description="Stores the file and queues its import: 202 with the job, whose `url` tells its progress "
        "and outcome. A file without a header, with a missing or unknown column, or too large is refused "
        "at once (400). Each row is recorded as POST /touches records one: counted by every rule from its "
        "time, idempotent by (source_tool, external_id). A row that cannot be recorded (a bad cell, a "
        "contact not in the department's own book) is reported by row and column; the others are recorded.",
        request={"multipart/form-data": TouchImportInputSerializer},
        responses={202: TouchImportJobSerializer, **error_responses(400, 401, 403, 404)},
        examples=EXAMPLES,
    )
    def post(self, request: Request) -> Response:
        serializer = TouchImportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = actor_for_request(request)
        job = touch_import_queue(
            department=acting_department(request, actor, data.get("department")),
            upload=data["file"],
            actor=actor,
        )
        return _job_response(request, job, status.HTTP_202_ACCEPTED)


class TouchImportDetailApi(APIView):
    @extend_schema(
        operation_id="external_touch_import_detail",
        summary="A touch import's state, progress and outcome",
        responses={200: TouchImportJobSerializer, **error_responses(401, 403, 404)},
        examples=[EXAMPLES[1]],
    )
    def get(self, request: Request, import_id: uuid.UUID) -> Response:
        job = touch_import_get(actor=actor_for_request(request), public_id=import_id)
        return _job_response(request, job, status.HTTP_200_OK)


class TouchImportCancelApi(APIView):
    @extend_schema(
        operation_id="external_touch_import_cancel",
        summary="Cancel a queued or running touch import",
        description=f"It stops at its next chunk of {CHUNK_ROWS} rows; touches recorded before stay "
        "recorded. 409 if it has ended.",
        request=None,
        responses={200: TouchImportJobSerializer, **error_responses(401, 403, 404, 409)},
        examples=[
            OpenApiExample("Cancelled", response_only=True, value=JOB_EXAMPLE | {"status": "cancelled"})
        ],
    )
    def post(self, request: Request, import_id: uuid.UUID) -> Response:
        job = touch_import_cancel(actor=actor_for_request(request), public_id=import_id)
        return _job_response(request, job, status.HTTP_200_OK)


class TouchImportResumeApi(APIView):
    @extend_schema(
        operation_id="external_touch_import_resume",
        summary="Run a failed or cancelled touch import again",
        description="It carries on after its last committed row. 202 with the job; 409 unless failed or "
        "cancelled with its file kept.",
        request=None,
        responses={202: TouchImportJobSerializer, **error_responses(401, 403, 404, 409)},
        examples=[
            OpenApiExample(
                "Queued again",
                response_only=True,
                status_codes=["202"],
                value=JOB_EXAMPLE | {"status": "queued"},
            )
        ],
    )
    def post(self, request: Request, import_id: uuid.UUID) -> Response:
        job = touch_import_resume(actor=actor_for_request(request), public_id=import_id)
        return _job_response(request, job, status.HTTP_202_ACCEPTED)
