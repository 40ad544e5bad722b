"""Two records of one person: merges (surveys/merges.py moves the rows), the duplicate searches
that find such pairs, and the suggestions a CX lead reviews."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from contacts.models.imports import ContactImport
from contacts.models.people import Contact
from departments.models import Department


class ContactMerge(models.Model):
    """Two records of one person made one (contacts/merging/): `absorbed`'s identities, views,
    consent, touches, decisions and answers moved to `survivor`, and `absorbed` stays behind as an
    empty record pointing at it. `moved` and `before` hold what unmerge needs to give each side
    back exactly what it had."""

    survivor = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="merges_kept")
    absorbed = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="merges_absorbed")
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.TextField()
    # {"<table>": [ids moved from absorbed to survivor]}: what unmerge moves back.
    moved = models.JSONField(default=dict, blank=True)
    # The rows the merge changed or removed, as they were: the survivor's own fields, views the
    # two shared (the survivor's before it was filled in, the absorbed one's whole), invitations
    # it cancelled as the person's second open invitation.
    before = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    # Frequency rules the merged history was over at the moment of the merge (shown before
    # confirming; nothing already sent is cancelled): [{"rule": id, "name": ..., "touches": n, "limit": n}].
    over_rules = models.JSONField(default=list, blank=True)
    suggestion = models.ForeignKey(
        "DuplicateSuggestion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    unmerged_at = models.DateTimeField(null=True, blank=True)
    unmerged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # A record is merged away once at a time: unmerge it before merging it again.
            models.UniqueConstraint(
                fields=["absorbed"], condition=Q(unmerged_at__isnull=True), name="contact_merge_absorbed_once"
            ),
            models.CheckConstraint(
                condition=~Q(survivor=models.F("absorbed")), name="contact_merge_two_contacts"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.absorbed} merged into {self.survivor}"


class DuplicateSearch(models.Model):
    """One background run of duplicate detection (contacts/duplicates/): over the whole contact
    book, or over the contacts one import touched against the rest."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    contact_import = models.ForeignKey(
        ContactImport,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: the whole contact book.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    total = models.PositiveIntegerField(default=0, help_text="Records to compare.")
    done = models.PositiveIntegerField(default=0, help_text="Records compared so far.")
    found = models.PositiveIntegerField(default=0, help_text="New suggestions.")
    # The linkage model this search trained (or reused), as the library saves it: an import's
    # search reuses the last whole-book search's model instead of training on a few rows.
    model = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "duplicate searches"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        scope = f"import #{self.contact_import_id}" if self.contact_import_id else "all contacts"
        return f"Duplicate search over {scope} ({self.get_status_display()})"


class DuplicateSuggestion(models.Model):
    """Two contacts that are probably one person, for a CX lead to review: found by a duplicate
    search (with its score and evidence) or proposed by a department owner. Accepting merges
    them; a rejected pair is never suggested again."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted (merged)"
        REJECTED = "rejected", "Rejected"

    # The pair in id order, so (a, b) and (b, a) are one row.
    first = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    # The match probability (0–1) of the linkage model; empty for a department's proposal.
    score = models.FloatField(null=True, blank=True)
    # Per compared field: {"email": {"level": "exact", "weight": 8.1}, ...}.
    evidence = models.JSONField(default=dict, blank=True)
    search = models.ForeignKey(
        DuplicateSearch, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    proposed_by_department = models.ForeignKey(
        Department, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True, help_text="Why a department proposed the merge.")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-score", "-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(first__lt=models.F("second")), name="duplicate_pair_in_order"),
            models.UniqueConstraint(fields=["first", "second"], name="duplicate_pair_once"),
        ]
        indexes = [
            # The CX lead's review queue: open suggestions, best first.
            models.Index(fields=["status", "-score"], name="duplicate_review_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.first} and {self.second} ({self.get_status_display()})"
