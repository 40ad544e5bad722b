"""REST API v1: import a contacts CSV (multipart upload), or dry-run it, as a background job
(contacts/importing/jobs.py): 202 with the job's URL, then its progress and outcome there; cancel
and resume. Thin: the services decide.

No Idempotency-Key here: posting the same file again is safe: it changes nothing, and its outcome
reports every row as matched.
"""

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.importing import (
    ALLOWED_COLUMNS,
    contact_import_cancel,
    contact_import_queue,
    contact_import_resume,
)
from contacts.importing.outcomes import COUNT_NAMES
from contacts.importing.selectors import contact_import_get, contact_import_issues_first
from contacts.importing.services import ISSUE_SAMPLE
from contacts.models import ContactImport
from cxfeedback.exceptions import ErrorSerializer
from departments.actors import actor_for_request
from departments.api import acting_department


class ContactImportInputSerializer(serializers.Serializer):
    # An empty file is the service's to reject: its message says what a contacts file needs.
    file = serializers.FileField(
        allow_empty_file=True,
        help_text=f"CSV, UTF-8 or Windows-1252, ',' or ';'. Columns: {', '.join(ALLOWED_COLUMNS)}.",
    )
    dry_run = serializers.BooleanField(default=False, help_text="Report what would happen; write no contact.")
    department = serializers.SlugField(
        required=False, help_text="The department to import into (an API key: its own, which is the default)."
    )
    # Checked by the service, whose message names the field and the codes it takes.
    phone_region = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=100,
        help_text="The country (ISO 3166 code, such as US) phone numbers without a country code are read "
        "in, unless a row's `country` column names one. Empty: the department's phone region; if it has "
        "none, the company default, and each such number is imported with a warning.",
    )


class ContactImportIssueSerializer(serializers.Serializer):
    row_number = serializers.IntegerField(help_text="As a spreadsheet shows it: the header is row 1.")
    kind = serializers.ChoiceField(
        choices=["invalid", "conflict", "warning"],
        help_text="invalid and conflict: the row was not imported; warning: it was, with a cell left out "
        "or a phone number read by a guess (the reason says which).",
    )
    column = serializers.CharField()
    reason = serializers.CharField()
    data = serializers.DictField(child=serializers.CharField(), help_text="The row as read, header → cell.")


class ContactImportCountsSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    matched = serializers.IntegerField()
    identities_added = serializers.IntegerField()
    updated = serializers.IntegerField(
        help_text="Of the matched rows, those that changed this department's view of the contact."
    )
    with_warnings = serializers.IntegerField(
        help_text="Of the imported rows, those with a warning (a cell left out, a number read by a guess)."
    )
    invalid = serializers.IntegerField()
    conflict = serializers.IntegerField()


class ContactImportProgressSerializer(serializers.Serializer):
    rows_done = serializers.IntegerField(help_text="Rows read so far (stored after each chunk of 1,000).")
    rows_total = serializers.IntegerField(
        allow_null=True, help_text="Rows in the file; null until the job has counted them."
    )
    percent = serializers.IntegerField(help_text="rows_done of rows_total, 0–100.")


class ContactImportJobSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    url = serializers.SerializerMethodField(help_text="Poll this for the job's progress and outcome.")
    status = serializers.CharField(
        help_text="queued, running, then previewed (a dry run) or completed; failed (see error) or "
        "cancelled. A failed or cancelled import resumes after its last committed row.",
    )
    department = serializers.CharField(source="department.slug")
    filename = serializers.CharField()
    dry_run = serializers.BooleanField()
    progress = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()
    issues = serializers.SerializerMethodField(help_text=f"The first {ISSUE_SAMPLE}, in row order.")
    issues_total = serializers.IntegerField(source="issue_total")
    error = serializers.CharField(help_text="Why a failed import stopped.")
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)

    def get_url(self, contact_import: ContactImport) -> str:
        path = reverse("contact-import-detail", args=[contact_import.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    @extend_schema_field(ContactImportProgressSerializer)
    def get_progress(self, contact_import: ContactImport) -> dict:
        done, total = contact_import.rows_done, contact_import.rows_total
        percent = 100 if contact_import.status == ContactImport.Status.COMPLETED else 0
        if total:
            percent = min(100, done * 100 // total)
        return {"rows_done": done, "rows_total": total, "percent": percent}

    @extend_schema_field(ContactImportCountsSerializer)
    def get_counts(self, contact_import: ContactImport) -> dict:
        return dict.fromkeys(COUNT_NAMES, 0) | contact_import.counts

    @extend_schema_field(ContactImportIssueSerializer(many=True))
    def get_issues(self, contact_import: ContactImport) -> list:
        issues = contact_import_issues_first(contact_import, limit=ISSUE_SAMPLE)
        return ContactImportIssueSerializer(issues, many=True).data


_ERRORS = {code: OpenApiResponse(ErrorSerializer, description="Error body.") for code in (400, 401, 403, 404)}


class ContactImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="contact_import",
        summary="Import contacts from CSV (a background job)",
        description="Stores the file and queues its import: 202 with the job, whose `url` tells its "
        "progress and, once it has ended, its outcome. A file with unknown or missing columns, not "
        "text, empty or too large is refused at once (400). "
        "Each row is matched to known contacts by its normalised identities: created, matched, "
        "identities added, invalid (row, column, reason) or conflict (its identities belong to different "
        "contacts; nothing is merged); a row imported with a phone cell left out or a number read by a "
        "guess carries a warning. Outcomes count against the department's own contacts: a person "
        "only other departments know is created, as a new contact of this department's. "
        "With dry_run, the job decides every row and writes no contact (status previewed).",
        request={"multipart/form-data": ContactImportInputSerializer},
        responses={202: ContactImportJobSerializer, **_ERRORS},
    )
    def post(self, request: Request) -> Response:
        serializer = ContactImportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = actor_for_request(request)
        contact_import = contact_import_queue(
            department=acting_department(request, actor, data.get("department")),
            upload=data["file"],
            actor=actor,
            dry_run=data["dry_run"],
            phone_region=data["phone_region"],
        )
        return _job_response(request, contact_import, status.HTTP_202_ACCEPTED)


class ContactImportDetailApi(APIView):
    @extend_schema(
        operation_id="contact_import_detail",
        summary="A contact import's state, progress and outcome",
        responses={200: ContactImportJobSerializer, **_ERRORS},
    )
    def get(self, request: Request, import_id: int) -> Response:
        contact_import = contact_import_get(actor=actor_for_request(request), import_id=import_id)
        return _job_response(request, contact_import, status.HTTP_200_OK)


class ContactImportCancelApi(APIView):
    @extend_schema(
        operation_id="contact_import_cancel",
        summary="Cancel a queued or running contact import",
        description="It stops at its next chunk of 1,000 rows; rows imported before stay imported. "
        "409 if it has ended.",
        request=None,
        responses={200: ContactImportJobSerializer, 409: ErrorSerializer, **_ERRORS},
    )
    def post(self, request: Request, import_id: int) -> Response:
        contact_import = contact_import_cancel(actor=actor_for_request(request), import_id=import_id)
        return _job_response(request, contact_import, status.HTTP_200_OK)


class ContactImportResumeApi(APIView):
    @extend_schema(
        operation_id="contact_import_resume",
        summary="Run a failed or cancelled contact import again",
        description="A real import carries on after its last committed row (no row twice, none lost); "
        "a dry run starts over. 202 with the job; 409 unless failed or cancelled with its file kept.",
        request=None,
        responses={202: ContactImportJobSerializer, 409: ErrorSerializer, **_ERRORS},
    )
    def post(self, request: Request, import_id: int) -> Response:
        contact_import = contact_import_resume(actor=actor_for_request(request), import_id=import_id)
        return _job_response(request, contact_import, status.HTTP_202_ACCEPTED)


def _job_response(request: Request, contact_import: ContactImport, code: int) -> Response:
    body = ContactImportJobSerializer(contact_import, context={"request": request}).data
    headers = {"Location": body["url"]} if code == status.HTTP_202_ACCEPTED else None
    return Response(body, status=code, headers=headers)
