"""The audit log: who changed what the promises rest on, and when — frequency rules, consent,
erasures. Append-only; it names people and objects by id and never holds a customer's personal data
(a summary says "opt-out for department 3 on email", never an address), so erasing a contact
leaves it as it is.

Admin actions (every add, change and delete through the Django admin, the history tables included)
are Django's own LogEntry, shown read-only beside it as `AdminAction`.
"""

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.db import models
from django.utils import timezone


class AuditEntry(models.Model):
    class Action(models.TextChoices):
        RULE_CREATED = "rule_created", "Frequency rule created"
        RULE_CHANGED = "rule_changed", "Frequency rule changed"
        CONSENT_RECORDED = "consent_recorded", "Consent recorded"
        CONTACT_ERASED = "contact_erased", "Contact erased"
        CONTACTS_MERGED = "contacts_merged", "Contacts merged"
        CONTACTS_UNMERGED = "contacts_unmerged", "Contacts unmerged"
        MERGE_PROPOSED = "merge_proposed", "Merge proposed"
        OVERRIDE_REQUESTED = "override_requested", "Override of a frequency rule requested"
        OVERRIDE_APPROVED = "override_approved", "Override of a frequency rule approved"
        OVERRIDE_APPLIED = "override_applied", "Override of a frequency rule applied"

    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=30, choices=Action.choices)
    # Who: "user:12", "api-key:3" (departments.actors.Actor.label), "customer", "provider", "operator".
    actor = models.CharField(max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # What: the changed row, as "app.model" and its id.
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    summary = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "audit entries"
        ordering = ["-at", "-pk"]
        indexes = [
            # The admin's list, newest first, and one object's entries.
            models.Index(fields=["at"], name="audit_entry_time"),
            models.Index(fields=["object_type", "object_id"], name="audit_entry_object"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor}"


class AdminAction(LogEntry):
    """Django's record of every admin add, change and delete, under the audit log's name."""

    class Meta:
        proxy = True
        verbose_name = "admin action"
