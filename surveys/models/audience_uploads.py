"""The upload of a send request's audience list, run as a background job."""

import uuid

from django.conf import settings
from django.contrib.postgres.functions import RandomUUID
from django.db import models
from django.utils import timezone

from contacts.models import ContactImport
from cxfeedback.background_jobs import JobStatus
from surveys.models.gatekeeper import SendRequest


class AudienceUpload(models.Model):
    """A contacts CSV made the audience of a draft send request (surveys/gatekeeper/audience_uploads.py):
    its contact import runs first (that import's own job, with its progress), then its rows become
    the request's AudienceMember rows, chunk by chunk: queued → running → completed, failed (with the
    reason) or cancelled. A request is not submitted while its latest upload has not completed."""

    Status = JobStatus

    public_id = models.UUIDField(default=uuid.uuid4, db_default=RandomUUID(), unique=True, editable=False)
    send_request = models.ForeignKey(SendRequest, on_delete=models.CASCADE, related_name="audience_uploads")
    contact_import = models.ForeignKey(ContactImport, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True, help_text="Why a failed upload stopped.")
    # The audience stage: the import's report lines read of its rows, committed with the chunk's
    # members, so a resumed run carries on after rows_done (one line per file row).
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    members = models.PositiveIntegerField(default=0, help_text="Audience rows written.")
    progress_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One upload at a time per request: two would each replace the other's list.
            models.UniqueConstraint(
                fields=["send_request"],
                condition=models.Q(status__in=["queued", "running"]),
                name="audience_upload_one_active",
            )
        ]

    def __str__(self) -> str:
        return f"Audience upload {self.public_id} ({self.get_status_display()})"

    @property
    def active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)
