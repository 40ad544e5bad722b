"""Departments, their members and their API keys: who may act, and on whose behalf."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Department(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="departments", blank=True)
    phone_region = models.CharField(
        max_length=2,
        blank=True,
        db_default="",
        default="",
        help_text="The country (ISO 3166 code, e.g. US) this department's phone numbers are read in when "
        "written without a country code. Empty: the company default (PHONE_DEFAULT_REGION).",
    )
    # A CX lead's controls (issue 15): surveys/gatekeeper/holds.py and trigger_caps.py read them.
    approval_threshold = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="A send request that would reach more contacts than this (eligible now and planned) "
        "waits for a CX lead's approval. Empty: the company's threshold.",
    )
    monthly_touch_budget = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Counted touches (invitations not cancelled or failed) this department may make per "
        "calendar month; a request that would go past it waits for a CX lead's approval. Empty: no budget.",
    )
    daily_trigger_cap = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Triggers (single-contact sends from the API) this department may make per calendar day; "
        "past it they are refused. Triggers are never held for approval. Empty: no cap.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CompanySettings(models.Model):
    """Company-wide settings a CX lead keeps: one row (CompanySettings.current())."""

    company_name = models.CharField(
        max_length=200,
        blank=True,
        help_text="The company's name as customers know it: shown on the survey pages, in the admin's "
        'header and as the sender\'s name of invitations ("Support at <company>").',
    )
    share_contact_channels = models.BooleanField(
        default=False,
        help_text="Let every department send to every email address and phone number the company "
        "knows for a person. Off: a department sends only to the addresses it supplied itself or "
        "the customer gave in the preference centre.",
    )
    follow_ups_wait_for_frequency_rules = models.BooleanField(
        "follow-ups wait for the survey frequency rules",
        default=False,
        help_text="Off (the default): a follow-up of a detractor is a personal reply, not a survey, and a "
        "department may start it whenever it is ready. On: starting any follow-up (in progress) waits "
        "until the frequency rules would allow a survey to that customer on that channel, and the "
        "follow-up shows the date that becomes possible. Closing one is always possible.",
    )
    approval_threshold = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="A send request that would reach more contacts than this (eligible now and planned) "
        "waits for a CX lead's approval, unless its department has a threshold of its own. Empty: "
        "no approval for size.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "company settings"
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="company_settings_single_row")]

    def __str__(self) -> str:
        return "Company settings"

    @classmethod
    def current(cls) -> CompanySettings:
        return cls.objects.get_or_create(pk=1)[0]


class ApiKey(models.Model):
    """A department's key for the REST API. Only a SHA-256 of the key is kept.

    The key itself has 256 bits from `secrets`, so a fast hash is enough: there is nothing to
    brute-force. `prefix` is shown in the admin so people can tell their keys apart.
    """

    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.department})"


class IdempotencyRecord(models.Model):
    """The first successful answer to a creating API call sent with an `Idempotency-Key` header.

    A retry with the same key and the same body gets this answer again instead of a second effect
    (cxfeedback/idempotency.py). `scope` is the caller (an API key or a user), so two callers may
    use the same key. Records older than a day may be purged.
    """

    scope = models.CharField(max_length=100)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_record_unique_key"),
        ]
        indexes = [
            # idempotency_records_purge deletes by age.
            models.Index(fields=["created_at"], name="idempotency_record_created"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"
