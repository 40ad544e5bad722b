"""CSV imports into a department's contacts, and the rows they could not import as given."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from departments.models import ApiKey, Department


class ContactImport(models.Model):
    """One CSV file imported into a department's contacts (contacts/importing/).

    The admin and the API import as a background job (contacts/importing/jobs.py): queued, running,
    then previewed (a dry run: the admin's preview, kept with its `stored_file` so that confirming
    imports exactly the file that was previewed), completed, failed or cancelled. The command line
    imports in its own process, as running then completed or failed.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PREVIEWED = "previewed", "Previewed"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="contact_imports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    filename = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    # Rows per outcome: rows, created, matched, identities_added, updated, invalid, conflict.
    counts = models.JSONField(default=dict, blank=True)
    stored_file = models.CharField(
        max_length=500, blank=True, help_text="The uploaded file, kept until confirmed."
    )
    # The per-row report (row, outcome, contact, matched identity, identities added, issue) as CSV.
    report_file = models.CharField(max_length=500, blank=True)
    # The region national phone numbers are read in (ISO 3166, "US"); empty: the department's.
    phone_region = models.CharField(max_length=2, blank=True, db_default="", default="")
    error = models.TextField(blank=True, help_text="Why a failed import stopped.")
    # The job's progress (contacts/importing/jobs.py): rows read of the file's rows (counted when it
    # starts), the last sign of life (the sweeper fails a running import silent for a lease), and
    # the file row (as a spreadsheet numbers it) through which the rows are committed: a resumed
    # import carries on after it.
    dry_run = models.BooleanField(default=False, help_text="A preview: decides every row, writes no contact.")
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    issue_total = models.PositiveIntegerField(default=0)
    committed_row = models.PositiveIntegerField(default=0)
    progress_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Import of {self.filename or 'a file'} into {self.department} ({self.get_status_display()})"


class ContactImportIssue(models.Model):
    """A row that was not imported: invalid (which column, why), or a conflict for a CX lead to
    resolve (its identities belong to different contacts; nothing was merged); or a row imported
    with a warning: a cell left out (a bad phone beside a good email) or read by a guess (a
    national phone number read in a region the row did not name)."""

    class Kind(models.TextChoices):
        INVALID = "invalid", "Invalid"
        CONFLICT = "conflict", "Conflict"
        WARNING = "warning", "Imported with a warning"

    contact_import = models.ForeignKey(ContactImport, on_delete=models.CASCADE, related_name="issues")
    row_number = models.PositiveIntegerField(help_text="As a spreadsheet shows it: the header is row 1.")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    column = models.CharField(max_length=200, blank=True)
    reason = models.TextField()
    # The row as it was read, header → cell.
    data = models.JSONField(default=dict, blank=True)
    # For a conflict: the contacts the row's identities belong to.
    contact_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    resolved = models.BooleanField(default=False)

    class Meta:
        ordering = ["contact_import", "row_number", "pk"]
        indexes = [
            # The admin and the import reports list one import's issues in row order.
            models.Index(fields=["contact_import", "row_number"], name="import_issue_row"),
        ]

    def __str__(self) -> str:
        column = f", {self.column}" if self.column else ""
        return f"Row {self.row_number}{column}: {self.get_kind_display().lower()} — {self.reason}"
