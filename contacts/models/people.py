"""People as the gatekeeper sees them (one row per real person), the identities that name them,
and each department's own view of them and of the identities it supplied."""

import uuid
import zoneinfo

from django.contrib.postgres.functions import RandomUUID
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from departments.models import Department


def validate_time_zone(value: str) -> None:
    if value and value not in available_time_zones():
        raise ValidationError(f"{value!r} is not an IANA time zone (for example Europe/Berlin).")


def available_time_zones() -> set[str]:
    global _TIME_ZONES
    if _TIME_ZONES is None:
        _TIME_ZONES = zoneinfo.available_timezones()
    return _TIME_ZONES


_TIME_ZONES: set[str] | None = None


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class Contact(models.Model):
    """One real person, as the gatekeeper sees them: every department's touches of them count
    together. What a department knows of them is its own view, a DepartmentContact; the fields here
    are the person's own (what they told the company, or a CX lead wrote), seen only by CX leads."""

    # The id the API shows: random, so it counts nothing and names nothing.
    public_id = models.UUIDField(default=uuid.uuid4, db_default=RandomUUID(), unique=True, editable=False)
    name = models.CharField(max_length=200, blank=True)
    locale = models.CharField(max_length=16, blank=True, help_text="A language tag such as en or de-AT.")
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_time_zone])
    attributes = models.JSONField(default=dict, blank=True)
    # When the person became known: the start of a frequency rule's grace period for new contacts.
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # Set when a CX lead merged this record into another (ContactMerge): everything it held moved
    # there, and it names no one until an unmerge gives it back.
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    # The company or household the person belongs to: rules scoped per account count its contacts'
    # touches together.
    account = models.ForeignKey(
        "contacts.Account", on_delete=models.SET_NULL, null=True, blank=True, related_name="contacts"
    )

    class Meta:
        indexes = [
            # Audience segments filter on attributes (attributes @> '{"tier": "gold"}').
            GinIndex(fields=["attributes"], name="contact_attributes_gin", opclasses=["jsonb_path_ops"]),
        ]

    def __str__(self) -> str:
        # Not the name: this text shows wherever a contact is named, to every department that knows them.
        return f"Contact {str(self.public_id)[:8]}" if self.public_id else "Contact"


class Identity(models.Model):
    """An email address, phone number or external id naming one contact.

    `normalised` is the form two identities are compared in (contacts/normalise.py); the unique
    constraint makes "one normalised identity belongs to one contact" a database fact.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone"
        EXTERNAL = "external", "External id"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The source system of an external id ("crm", "shop"); empty for emails and phones.
    source = models.CharField(max_length=60, blank=True, default="")
    value = models.CharField(max_length=320, help_text="As it was given.")
    normalised = models.CharField(max_length=320)
    # The customer gave it to the company themselves (the preference centre): every department
    # may send to it. Any other identity serves only the departments that supplied it, unless a
    # CX lead shares contact channels company-wide.
    given_by_customer = models.BooleanField(db_default=False, default=False)
    # The department that supplied it first, spelled as `value`. Any other department that
    # supplies it too is a DepartmentIdentity row. On the identity itself, not as a row of its own:
    # nearly every identity has one supplier, and an import writes it in the same COPY.
    department = models.ForeignKey(
        Department, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "source", "normalised"], name="identity_unique_normalised"
            ),
            models.CheckConstraint(
                condition=Q(kind="external") | Q(source=""),
                name="identity_source_only_for_external",
            ),
        ]

    def __str__(self) -> str:
        prefix = f"{self.source}:" if self.source else ""
        return f"{self.get_kind_display()} {prefix}{self.value}"


# The kind of identity each channel sends to: a contact's address on that channel.
CHANNEL_IDENTITY_KIND = {Channel.EMAIL: Identity.Kind.EMAIL, Channel.SMS: Identity.Kind.PHONE}


class DepartmentContact(models.Model):
    """A department's own view of a person: it brought them in or surveyed them. Department owners
    and API keys see only their departments' views, and only what each view holds: its name for
    the person, attributes, locale, time zone and notes, and the identities it supplied."""

    class Source(models.TextChoices):
        IMPORT = "import", "Import"
        API = "api", "API"
        ADMIN = "admin", "Admin"
        SURVEY = "survey", "Survey"

    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="contact_links")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="department_links")
    source = models.CharField(max_length=10, choices=Source.choices)
    name = models.CharField(max_length=200, blank=True, db_default="", default="")
    locale = models.CharField(
        max_length=16, blank=True, db_default="", default="", help_text="A language tag such as en or de-AT."
    )
    time_zone = models.CharField(
        max_length=64, blank=True, db_default="", default="", validators=[validate_time_zone]
    )
    attributes = models.JSONField(default=dict, blank=True, db_default=models.Value({}, models.JSONField()))
    notes = models.TextField(blank=True, db_default="", default="")
    # When the department first knew the person: what the department is shown as "created".
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "contact view"
        constraints = [
            models.UniqueConstraint(fields=["department", "contact"], name="department_contact_unique"),
        ]
        indexes = [
            # Audience segments filter a department's views on attributes (attributes @> '{"tier": "gold"}').
            GinIndex(fields=["attributes"], name="view_attributes_gin", opclasses=["jsonb_path_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.department} knows {self.name or self.contact}"


class DepartmentIdentity(models.Model):
    """Another department supplied this identity too (by import, API or admin): it is in that
    department's view, and it may send to it. The first supplier is Identity.department; "supplied
    by" reads both (contacts.supplies)."""

    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="+")
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="suppliers")
    # As this department wrote it ("Ann@Example.com"), which the department is shown and sent to.
    # Identity.value is the first supplier's spelling, which would tell this department that
    # someone else had it first.
    value = models.CharField(max_length=320, blank=True, db_default="", default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "department identities"
        constraints = [
            models.UniqueConstraint(fields=["identity", "department"], name="department_identity_unique"),
        ]
        indexes = [models.Index(fields=["department", "identity"], name="department_identity_by_dept")]

    def __str__(self) -> str:
        return f"{self.department} supplied {self.identity}"


class ErasedIdentity(models.Model):
    """What is left of an erased contact's identity: the SHA-256 of its normalised form, kept only
    when the person had opted out, with the opt-outs then in force.

    The promise "never asked again after saying no" must outlive erasure: a later import or upsert of
    the same address creates a new contact, and a trigger on Identity (migration 0003) gives that
    contact these opt-outs again. A plain digest, not one keyed with SECRET_KEY: a key rotation would
    silently drop every suppression. An address is guessable, so the digest tells only someone who
    already knows it that its owner asked to be forgotten and not surveyed — the least that keeps
    the promise.
    """

    digest = models.CharField(max_length=64, unique=True, help_text="sha256 of kind:source:normalised.")
    # [{"department": id or null, "channel": "" or "email"/"sms"}]: the opt-outs in force at erasure.
    opt_outs = models.JSONField(default=list)
    erased_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "erased identities"

    def __str__(self) -> str:
        return f"Erased identity {self.digest[:12]}…"
