"""factory_boy factories for every model the tests build."""

import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection

from contacts.models import Consent, Contact, DepartmentContact, DepartmentIdentity, Identity
from departments.models import Department
from departments.roles import CX_LEAD, DEPARTMENT_OWNER


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Department {n}")
    slug = factory.Sequence(lambda n: f"department-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@staff.example.com")
    is_staff = True
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


def department_owner(department: Department, **kwargs):
    user = UserFactory(role=DEPARTMENT_OWNER, **kwargs)
    department.members.add(user)
    return user


def cx_lead(**kwargs):
    return UserFactory(role=CX_LEAD, **kwargs)


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    name = factory.Faker("name")
    locale = "en"
    time_zone = "Europe/Berlin"


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identity

    contact = factory.SubFactory(ContactFactory)
    kind = Identity.Kind.EMAIL
    value = factory.Sequence(lambda n: f"person{n}@example.com")
    normalised = factory.LazyAttribute(lambda i: i.value.lower())


class DepartmentContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DepartmentContact

    department = factory.SubFactory(DepartmentFactory)
    contact = factory.SubFactory(ContactFactory)
    source = DepartmentContact.Source.IMPORT
    name = factory.Faker("name")
    locale = "en"
    time_zone = "Europe/Berlin"


class DepartmentIdentityFactory(factory.django.DjangoModelFactory):
    """The department supplied the identity: it is in the department's view, and may be sent to."""

    class Meta:
        model = DepartmentIdentity

    department = factory.SubFactory(DepartmentFactory)
    identity = factory.SubFactory(IdentityFactory)


class ConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consent

    contact = factory.SubFactory(ContactFactory)
    kind = Consent.Kind.OPT_OUT
    source = Consent.Source.ADMIN


# What a department writes down about a person: known_contact puts these in its view.
VIEW_FIELDS = ("name", "locale", "time_zone", "attributes", "notes")


def contact_ids_skipped(count: int) -> None:
    """The next contact's id comes `count` after the last one's: a contact in a stripe of its own
    (surveys/gatekeeper/locks.py gives runs of consecutive ids one stripe)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('contacts_contact', 'id'), "
            "coalesce((SELECT max(id) FROM contacts_contact), 0) + %s)",
            [count],
        )


def known_contact(department: Department, *, email: str | None = None, **kwargs) -> Contact:
    """A person `department` knows, with one email identity it supplied; name, locale, time zone,
    attributes and notes go to the department's view (and, for name, locale and time zone, to the
    person's own fields too, which a CX lead sees), anything else to the contact."""
    view_fields = {field: kwargs[field] for field in VIEW_FIELDS if field in kwargs}
    own = {field: value for field, value in kwargs.items() if field not in ("attributes", "notes")}
    contact = ContactFactory(**own)
    identity = IdentityFactory(
        contact=contact, **({"value": email, "normalised": email.lower()} if email else {})
    )
    DepartmentContactFactory(
        department=department,
        contact=contact,
        **{
            "name": contact.name,
            "locale": contact.locale,
            "time_zone": contact.time_zone,
            "created_at": contact.created_at,  # known to the department since the person is known
            **view_fields,
        },
    )
    DepartmentIdentityFactory(department=department, identity=identity)
    return contact


# Surveys, rules and send requests (issue 3). Built straight into the database, as a fixture would;
# tests of the services themselves build through the services.


class SurveyFactory(factory.django.DjangoModelFactory):
    """A current, unfrozen survey (version 1 of its own family) with one NPS question."""

    class Meta:
        model = "surveys.Survey"
        skip_postgeneration_save = True

    department = factory.SubFactory(DepartmentFactory)
    name = factory.Sequence(lambda n: f"Survey {n}")
    kind = "relationship"

    @factory.post_generation
    def family(self, create, extracted, **kwargs):
        if create and self.family_id is None:
            self.family_id = self.pk
            type(self).objects.filter(pk=self.pk).update(family_id=self.pk)

    @factory.post_generation
    def questions(self, create, extracted, **kwargs):
        if create and extracted is None:
            QuestionFactory(survey=self, position=1)


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "surveys.Question"

    survey = factory.SubFactory(SurveyFactory, questions=[])
    position = factory.Sequence(lambda n: n + 1)
    kind = "nps"
    text = "How likely are you to recommend us to a friend or colleague?"


class FrequencyRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "surveys.FrequencyRule"

    name = factory.Sequence(lambda n: f"Rule {n}")
    max_touches = 1
    window = dt.timedelta(days=30)


class SendRequestFactory(factory.django.DjangoModelFactory):
    """A draft request for the department's survey, to all contacts the department knows."""

    class Meta:
        model = "surveys.SendRequest"

    department = factory.SubFactory(DepartmentFactory)
    survey = factory.SubFactory(SurveyFactory, department=factory.SelfAttribute("..department"))
    channel = "email"
    audience_kind = "all_known"


def screened_request(department: Department, *, now: dt.datetime | None = None, **kwargs):
    """A request to every contact `department` knows, screened for real: a queued invitation for each
    allowed contact (all of them, unless rules or opt-outs say otherwise). Delivery tests start here."""
    from surveys.gatekeeper.send_requests import send_request_screen

    send_request = SendRequestFactory(department=department, status="submitted", **kwargs)
    return send_request_screen(send_request_id=send_request.pk, now=now)
