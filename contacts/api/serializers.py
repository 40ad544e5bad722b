"""Shapes of the contacts API: input serializers check types only, the services check the rules."""

from rest_framework import serializers

from contacts.models import Channel, Consent, Contact, DepartmentContact, Identity
from contacts.selectors import contact_seen


class IdentityInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Identity.Kind.choices)
    source = serializers.CharField(
        max_length=60,
        required=False,
        allow_blank=True,
        default="",
        help_text="Source system; external ids only.",
    )
    value = serializers.CharField(max_length=320, trim_whitespace=False)


class ContactUpsertInputSerializer(serializers.Serializer):
    department = serializers.SlugField(
        required=False,
        help_text="Slug of the department bringing the contact in. Required for signed-in users; "
        "an API key always acts for its own department.",
    )
    identities = IdentityInputSerializer(
        many=True, allow_empty=False, help_text="The contact is matched by any of these, normalised."
    )
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    locale = serializers.CharField(
        max_length=16, required=False, allow_blank=True, help_text="Such as en or de-AT."
    )
    time_zone = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="IANA name such as Europe/Berlin."
    )
    attributes = serializers.DictField(
        required=False,
        help_text="Merged into the department's attributes: given keys overwrite, others stay.",
    )
    notes = serializers.CharField(
        required=False, allow_blank=True, max_length=5000, help_text="The department's own notes."
    )
    account = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="External id of the company or household (account) the person belongs to, in your "
        "own systems; created on first use. Empty: takes the person out of an account your department "
        "named. Omitted: unchanged.",
    )
    # Checked by the service, whose message names the field and the codes it takes.
    phone_region = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=100,
        help_text="The country (ISO 3166 code, such as US) phone numbers without a country code are read "
        "in. Empty: the department's phone region, else the company default. E.164 (+…) needs none.",
    )


class IdentityOutputSerializer(serializers.ModelSerializer):
    value = serializers.SerializerMethodField(help_text="As the caller's department wrote it.")

    class Meta:
        model = Identity
        fields = ["kind", "source", "value", "normalised"]
        read_only_fields = fields

    def get_value(self, identity: Identity) -> str:
        return getattr(identity, "given_as", None) or identity.value


class ContactViewOutputSerializer(serializers.ModelSerializer):
    department = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    attributes = serializers.DictField(read_only=True)

    class Meta:
        model = DepartmentContact
        fields = [
            "department",
            "name",
            "locale",
            "time_zone",
            "attributes",
            "notes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ContactOutputSerializer(serializers.Serializer):
    """A contact as the caller sees it (contacts.selectors.contact_seen): a department its own view
    and the identities it supplied; a CX lead the whole person."""

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    locale = serializers.CharField(read_only=True)
    time_zone = serializers.CharField(read_only=True)
    attributes = serializers.DictField(read_only=True)
    notes = serializers.CharField(read_only=True, help_text="The department's notes; empty for a CX lead.")
    account = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="External id of the person's account, if your department named it (a CX lead: any).",
    )
    identities = IdentityOutputSerializer(
        many=True,
        read_only=True,
        help_text="The identities the caller's department supplied (a CX lead: all).",
    )
    views = ContactViewOutputSerializer(
        many=True, read_only=True, help_text="The departments' views the caller may see (a CX lead: all)."
    )
    created_at = serializers.DateTimeField(
        read_only=True, help_text="When the caller's department first knew the person."
    )
    updated_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance):
        if isinstance(instance, Contact):
            instance = contact_seen(instance, actor=self.context["actor"])
        return super().to_representation(instance)


class ConsentRecordInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Consent.Kind.choices)
    department = serializers.SlugField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Slug of the department it is about. Empty: an API key's own department, or a "
        "signed-in user's only one (a user of several names one); for every department only when a "
        "CX lead records it.",
    )
    channel = serializers.ChoiceField(
        choices=Channel.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="Empty: all channels.",
    )
    until = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="End of a snooze."
    )
    source = serializers.ChoiceField(
        choices=Consent.Source.choices,
        default=Consent.Source.API,
        help_text="Where it was said. A department records api, admin or import; the customer's and "
        "providers' sources (unsubscribe_link, preference_centre, bounce, complaint, sms_stop) speak "
        "for every department and are a CX lead's alone (403 otherwise).",
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ConsentOutputSerializer(serializers.ModelSerializer):
    department = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    # Declared: DRF drops allow_blank from a read-only model field, and the schema then said "" (all
    # channels) could not be answered.
    channel = serializers.ChoiceField(
        choices=Channel.choices, allow_blank=True, read_only=True, help_text="Empty: all channels."
    )
    # A record for every department is shown to a department as contacts.consent_selectors.consent_shown
    # makes it: what it says, not who wrote what when.
    note = serializers.CharField(
        read_only=True,
        help_text="Empty on a record for every department unless a CX lead asks: its note stays with "
        "whoever wrote it.",
    )
    until = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="End of a snooze; on a record for every department, rounded up to the hour unless a CX "
        "lead asks.",
    )
    created_at = serializers.DateTimeField(
        read_only=True,
        help_text="On a record for every department, to the hour (rounded down) unless a CX lead asks.",
    )

    class Meta:
        model = Consent
        fields = ["id", "kind", "department", "channel", "until", "source", "note", "created_at"]
        read_only_fields = fields
