"""REST API v1: import a contacts CSV (multipart upload), or dry-run it. Thin: the service decides.

No Idempotency-Key here: the idempotency wrapper runs the call in one transaction, and an import
commits chunk by chunk (contacts/importing/services.py). Posting the same file again is safe: it
changes nothing, and its answer reports every row as matched.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.importing import ALLOWED_COLUMNS, ContactImportResult, contact_import_run
from contacts.importing.services import ISSUE_SAMPLE
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


class ContactImportOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="contact_import.pk")
    status = serializers.CharField(source="contact_import.status")
    department = serializers.CharField(source="contact_import.department.slug")
    filename = serializers.CharField(source="contact_import.filename")
    dry_run = serializers.BooleanField()
    counts = ContactImportCountsSerializer()
    issues = ContactImportIssueSerializer(many=True, help_text=f"The first {ISSUE_SAMPLE}, in row order.")
    issues_total = serializers.IntegerField(source="issue_count")


class ContactImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="contact_import",
        summary="Import contacts from CSV",
        description="Each row is matched to known contacts by its normalised identities: created, matched, "
        "identities added, invalid (row, column, reason) or conflict (its identities belong to different "
        "contacts; nothing is merged); a row imported with a phone cell left out or a number read by a "
        "guess carries a warning. Outcomes count against the department's own contacts: a person "
        "only other departments know is created, as a new contact of this department's. A file with "
        "unknown or missing columns is rejected whole (400). "
        "201 with the summary; with dry_run, 200 and nothing written.",
        request={"multipart/form-data": ContactImportInputSerializer},
        responses={
            200: ContactImportOutputSerializer,
            201: ContactImportOutputSerializer,
            **{
                code: OpenApiResponse(ErrorSerializer, description="Error body.")
                for code in (400, 401, 403, 404, 500)
            },
        },
    )
    def post(self, request: Request) -> Response:
        serializer = ContactImportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = actor_for_request(request)
        upload = data["file"]
        result: ContactImportResult = contact_import_run(
            department=acting_department(request, actor, data.get("department")),
            file=upload,
            actor=actor,
            filename=upload.name or "",
            dry_run=data["dry_run"],
            phone_region=data["phone_region"],
        )
        return Response(
            ContactImportOutputSerializer(result).data,
            status=status.HTTP_200_OK if result.dry_run else status.HTTP_201_CREATED,
        )
