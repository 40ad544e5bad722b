"""The contact book: one row per real person, the identities that name them, who knows them, and
what they said about being contacted. Knows nothing about surveys."""

import uuid
import zoneinfo

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.functions import RandomUUID
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from departments.models import ApiKey, Department


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


class ContactImport(models.Model):
    """One CSV file imported into a department's contacts (contacts/csv_import.py).

    A preview in the admin is a dry run stored as `previewed` together with the uploaded file
    (`stored_file`), so the confirm step imports exactly the file that was previewed.
    """

    class Status(models.TextChoices):
        PREVIEWED = "previewed", "Previewed"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

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
            models.CheckConstraint(condition=~Q(survivor=models.F("absorbed")), name="contact_merge_two_contacts"),
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
        ContactImport, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
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
    search = models.ForeignKey(DuplicateSearch, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
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
