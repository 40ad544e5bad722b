"""REST API v1: a draft send request's audience list, uploaded as a background job
(surveys/gatekeeper/audience_uploads.py): 202 with the job's URL, then its progress and outcome there;
cancel and resume. Thin: the services decide. Another department's request or upload is a 404, the
same as a missing one.
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

from contacts.api.imports import ContactImportJobSerializer
from cxfeedback.background_jobs import percent_done
from cxfeedback.exceptions import error_responses
from cxfeedback.idempotency import HEADER_PARAMETER, idempotent
from departments.actors import actor_for_request
from surveys.api.inputs import valid_input
from surveys.gatekeeper.audience_uploads import (
    audience_upload_cancel,
    audience_upload_get,
    audience_upload_queue,
    audience_upload_resume,
)
from surveys.gatekeeper.send_requests import send_request_get
from surveys.models import AudienceUpload

IMPORTING, AUDIENCE = "importing", "audience"


class AudienceUploadInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A contacts CSV, as the contact import takes it.")


class AudienceUploadProgressSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(
        choices=[IMPORTING, AUDIENCE],
        help_text="importing: the file's contacts are imported (the contact import's rows); audience: "
        "the imported rows become the request's audience.",
    )
    rows_done = serializers.IntegerField(help_text="Rows of the file done in this stage, stored per chunk.")
    rows_total = serializers.IntegerField(allow_null=True, help_text="Rows in the file; null until counted.")
    percent = serializers.IntegerField(help_text="Both stages together, 0–100.")


class AudienceUploadJobSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    url = serializers.SerializerMethodField(help_text="Poll this for the job's progress and outcome.")
    send_request = serializers.UUIDField(source="send_request.public_id")
    status = serializers.ChoiceField(
        choices=AudienceUpload.Status.choices,
        help_text="queued, running, then completed; failed (see error) or cancelled, which resume after "
        "their last committed chunk. The request is not submitted until its latest upload completed.",
    )
    progress = serializers.SerializerMethodField()
    members = serializers.IntegerField(help_text="Audience rows written: imported rows that name a contact.")
    contact_import = ContactImportJobSerializer(
        help_text="The import of the file's contacts: rows left out (invalid, conflicts) are listed here."
    )
    error = serializers.CharField(help_text="Why a failed upload stopped.")
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)

    def get_url(self, job: AudienceUpload) -> str:
        path = reverse("send-request-audience-upload", args=[job.send_request.public_id, job.public_id])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    @extend_schema_field(AudienceUploadProgressSerializer)
    def get_progress(self, job: AudienceUpload) -> dict:
        contact_import = job.contact_import
        total = contact_import.rows_total
        both = percent_done(
            contact_import.rows_done + job.rows_done,
            2 * total if total else None,
            completed=job.status == AudienceUpload.Status.COMPLETED,
        )
        if job.rows_total is None:
            return {
                "stage": IMPORTING,
                "rows_done": contact_import.rows_done,
                "rows_total": total,
                "percent": both,
            }
        return {"stage": AUDIENCE, "rows_done": job.rows_done, "rows_total": job.rows_total, "percent": both}


JOB_EXAMPLE = {
    "id": "3b0f7c52-8e4d-4a51-a0a4-2f6d9b1c7e01",
    "url": "https://cx.example.com/api/v1/send-requests/9a1e4c2b-5d7f-4e3a-8b6c-1d2e3f4a5b6c/audience/"
    "3b0f7c52-8e4d-4a51-a0a4-2f6d9b1c7e01",
    "send_request": "9a1e4c2b-5d7f-4e3a-8b6c-1d2e3f4a5b6c",
    "status": "running",
    "progress": {"stage": "importing", "rows_done": 20000, "rows_total": 50000, "percent": 20},
    "members": 0,
    "contact_import": {
        "id": 412,
        "url": "https://cx.example.com/api/v1/contacts/imports/412",
        "status": "running",
        "department": "support",
        "filename": "november-customers.csv",
        "dry_run": False,
        "progress": {"rows_done": 20000, "rows_total": 50000, "percent": 40},
        "counts": {
            "rows": 20000,
            "created": 1200,
            "matched": 18790,
            "identities_added": 35,
            "updated": 410,
            "with_warnings": 3,
            "invalid": 10,
            "conflict": 0,
        },
        "issues": [],
        "issues_total": 10,
        "error": "",
        "created_at": "2026-11-30T08:00:00Z",
        "completed_at": None,
    },
    "error": "",
    "created_at": "2026-11-30T08:00:00Z",
    "completed_at": None,
}
EXAMPLES = [
    OpenApiExample(
        "A contacts CSV",
        request_only=True,
        media_type="multipart/form-data",
        value={"file": "email,name\nann@example.com,Ann\nbob@example.com,Bob\n"},
    ),
    OpenApiExample("The upload's job", response_only=True, status_codes=["200", "202"], value=JOB_EXAMPLE),
]


def _job_response(request: Request, job: AudienceUpload, code: int) -> Response:
    body = AudienceUploadJobSerializer(job, context={"request": request}).data
    headers = {"Location": body["url"]} if code == status.HTTP_202_ACCEPTED else None
    return Response(body, status=code, headers=headers)


def _job_of(request: Request, send_request_id: uuid.UUID, upload_id: uuid.UUID, service) -> AudienceUpload:
    return service(actor=actor_for_request(request), send_request_id=send_request_id, upload_id=upload_id)


class SendRequestAudienceApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="send_request_audience_upload",
        summary="Upload the audience of a draft request (CSV, a background job)",
        description="Stores the file and queues the job: 202 with it, whose `url` tells its progress and "
        "outcome. The job imports the contacts into the department (as the contact import does), then "
        "makes the file's rows the request's audience, replacing an earlier upload. A file that cannot be "
        "imported at all is refused at once (400). 409 while another upload of the request runs, or once "
        "the request is no longer a draft. The request cannot be submitted until its upload completed.",
        request={"multipart/form-data": AudienceUploadInputSerializer},
        parameters=[HEADER_PARAMETER],
        responses={202: AudienceUploadJobSerializer, **error_responses(400, 401, 403, 404, 409, 422)},
        examples=EXAMPLES,
    )
    @idempotent
    def post(self, request: Request, send_request_id: uuid.UUID) -> Response:
        actor = actor_for_request(request)
        send_request = send_request_get(actor=actor, public_id=send_request_id)
        upload = valid_input(AudienceUploadInputSerializer, request.data)["file"]
        job = audience_upload_queue(actor=actor, send_request=send_request, upload=upload)
        job = audience_upload_get(actor=actor, send_request_id=send_request_id, upload_id=job.public_id)
        return _job_response(request, job, status.HTTP_202_ACCEPTED)


class AudienceUploadDetailApi(APIView):
    @extend_schema(
        operation_id="send_request_audience_upload_detail",
        summary="An audience upload's state, progress and outcome",
        responses={200: AudienceUploadJobSerializer, **error_responses(401, 403, 404)},
        examples=[EXAMPLES[1]],
    )
    def get(self, request: Request, send_request_id: uuid.UUID, upload_id: uuid.UUID) -> Response:
        job = _job_of(request, send_request_id, upload_id, audience_upload_get)
        return _job_response(request, job, status.HTTP_200_OK)


class AudienceUploadCancelApi(APIView):
    @extend_schema(
        operation_id="send_request_audience_upload_cancel",
        summary="Cancel a queued or running audience upload",
        description="It stops at its next chunk; contacts imported before stay imported. The request is "
        "not submitted until a list is uploaded whole (resume this one, or upload again). 409 if it has "
        "ended.",
        request=None,
        responses={200: AudienceUploadJobSerializer, **error_responses(401, 403, 404, 409)},
        examples=[
            OpenApiExample("Cancelled", response_only=True, value=JOB_EXAMPLE | {"status": "cancelled"})
        ],
    )
    def post(self, request: Request, send_request_id: uuid.UUID, upload_id: uuid.UUID) -> Response:
        job = _job_of(request, send_request_id, upload_id, audience_upload_cancel)
        return _job_response(request, job, status.HTTP_200_OK)


class AudienceUploadResumeApi(APIView):
    @extend_schema(
        operation_id="send_request_audience_upload_resume",
        summary="Run a failed or cancelled audience upload again",
        description="Its import, then its audience, carry on after their last committed chunks. 202 with "
        "the job; 409 unless it failed or was cancelled, is the request's latest upload, and the request "
        "is still a draft.",
        request=None,
        responses={202: AudienceUploadJobSerializer, **error_responses(401, 403, 404, 409)},
        examples=[
            OpenApiExample(
                "Queued again",
                response_only=True,
                status_codes=["202"],
                value=JOB_EXAMPLE | {"status": "queued"},
            )
        ],
    )
    def post(self, request: Request, send_request_id: uuid.UUID, upload_id: uuid.UUID) -> Response:
        job = _job_of(request, send_request_id, upload_id, audience_upload_resume)
        return _job_response(request, job, status.HTTP_202_ACCEPTED)
