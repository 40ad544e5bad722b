"""Touches and answers from the survey tools a department keeps besides ours (issue 16).

Each external touch is stored as an Invitation (so every frequency rule, timeline and result counts it
exactly like one of ours, with no change to the gatekeeper's queries) under a send request of its own
whose audience is "external", like a trigger is one request per contact. ExternalSurvey names the
department's placeholder survey of a kind those invitations and ingested answers belong to;
ExternalTouch keeps the other tool's name and id, for idempotency.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.functions import RandomUUID
from django.db import models
from django.db.models import Q
from django.utils import timezone

from cxfeedback.background_jobs import JobStatus
from cxfeedback.uuids import TimeOrderedUUID, uuid7
from departments.models import Department
from surveys.models.delivery import Invitation
from surveys.models.design import Survey, SurveyKind


class ExternalSurvey(models.Model):
    """The department's placeholder survey for touches of `survey_kind` sent by other tools: never
    current (so never listed for sending nor sendable), frozen, with one optional question per kind
    an ingested answer can have (NPS, CSAT, CES, free text)."""

    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    survey_kind = models.CharField(max_length=20, choices=SurveyKind.choices)
    survey = models.OneToOneField(Survey, on_delete=models.PROTECT, related_name="external")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["department", "survey_kind"], name="external_survey_one_per_kind"
            ),
        ]

    def __str__(self) -> str:
        return str(self.survey)


class ExternalTouch(models.Model):
    """One survey another tool sent (or, while its invitation is queued, a slot reserved for it)."""

    # The id the API shows: unguessable, so it does not count other departments' touches; time-ordered,
    # as an import writes them by the million (cxfeedback/uuids.py).
    public_id = models.UUIDField(default=uuid7, db_default=TimeOrderedUUID(), unique=True, editable=False)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    source_tool = models.CharField(max_length=100)
    # The other tool's id of the send; empty for a reservation not given one (yet).
    external_id = models.CharField(max_length=200, blank=True)
    invitation = models.OneToOneField(Invitation, on_delete=models.CASCADE, related_name="external_touch")
    # A reservation not yet confirmed or cancelled: released (cancelled) once this has passed.
    reserved_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # A replay of the same send (same tool, same id) is the same touch: the idempotency promise.
            models.UniqueConstraint(
                fields=["department", "source_tool", "external_id"],
                condition=~Q(external_id=""),
                name="external_touch_idempotent",
            ),
        ]
        indexes = [
            # The beat's release of reservations not confirmed in time: a few among all the touches.
            models.Index(
                fields=["reserved_until"],
                condition=Q(reserved_until__isnull=False),
                name="external_touch_reserved",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_tool} {self.external_id or self.public_id}"


class TouchImport(models.Model):
    """A CSV of touches another tool sent, recorded by a background job (surveys/external/imports.py),
    as contacts/importing/jobs.py runs contact imports: queued → running → completed, failed (with the
    reason) or cancelled; progress per chunk; resumed after its last committed row."""

    Status = JobStatus

    public_id = models.UUIDField(default=uuid.uuid4, db_default=RandomUUID(), unique=True, editable=False)
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    filename = models.CharField(max_length=255, blank=True)
    stored_file = models.CharField(max_length=500, blank=True, help_text="Deleted once the import completes.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # recorded (new touches), replayed (already recorded: same tool and id), rejected (rows with an error).
    counts = models.JSONField(default=dict, blank=True)
    # The first rows refused, each {"row", "column", "message"}; counts["rejected"] has them all.
    issues = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, help_text="Why a failed import stopped.")
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    # The last row committed: a resumed job carries on after it.
    committed_row = models.PositiveIntegerField(default=0)
    progress_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Touch import {self.filename or self.public_id}"
