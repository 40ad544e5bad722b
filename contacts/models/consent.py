"""What people said about being contacted: append-only records (contacts/consent.py reads them)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from contacts.models.people import Channel, Contact
from departments.models import Department


class Consent(models.Model):
    """One statement about being contacted, never changed once written (append-only).

    Scope: `department` empty means every department, `channel` empty every channel. What the
    records add up to is decided by contacts.consent.consent_decide.
    """

    class Kind(models.TextChoices):
        OPT_OUT = "opt_out", "Opt-out"
        OPT_IN = "opt_in", "Opt-in"
        SNOOZE = "snooze", "Snooze"

    class Source(models.TextChoices):
        UNSUBSCRIBE_LINK = "unsubscribe_link", "Unsubscribe link"
        PREFERENCE_CENTRE = "preference_centre", "Preference centre"
        BOUNCE = "bounce", "Bounce"
        COMPLAINT = "complaint", "Complaint"
        SMS_STOP = "sms_stop", "SMS STOP"
        ADMIN = "admin", "Admin"
        API = "api", "API"
        IMPORT = "import", "Import"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consents")
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    until = models.DateTimeField(null=True, blank=True, help_text="End of a snooze.")
    source = models.CharField(max_length=20, choices=Source.choices)
    note = models.TextField(blank=True)
    recorded_by = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="snooze", until__isnull=False) | (~Q(kind="snooze") & Q(until__isnull=True)),
                name="consent_until_only_for_snooze",
            ),
        ]
        indexes = [
            # The gatekeeper reads a contact's records in order: consent_decide and its SQL twin.
            models.Index(fields=["contact", "created_at"], name="consent_contact_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_source_display()})"

    @property
    def scope_label(self) -> str:
        department = self.department.name if self.department_id else "all departments"
        channel = self.get_channel_display() if self.channel else "all channels"
        return f"{department}, {channel}"
