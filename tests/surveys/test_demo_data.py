"""`manage.py load_demo_data`: the printed logins work, duplicates collapse, reruns change nothing."""

import datetime as dt
import random
import re
from io import StringIO

import pytest
from django.conf import global_settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from contacts import demo as contacts_demo
from contacts.models import Consent, Contact, DepartmentContact, DepartmentIdentity, Identity
from contacts.normalise import normalise_email
from departments.actors import actor_for_user
from departments.models import CompanySettings, Department
from departments.roles import CX_LEAD, DEPARTMENT_OWNER
from results.models import FollowUp
from surveys.gatekeeper.decision_partitions import decision_partitions
from surveys.gatekeeper.preflight import preflight_summary, send_request_preflight
from surveys.gatekeeper.send_requests import send_request_create
from surveys.management.commands import load_demo_data
from surveys.models import Decision, Invitation, Reason, Response, Survey

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture(autouse=True)
def debug_on(settings):
    # `make run` runs with DEBUG on; the command refuses otherwise (see test_refuses_without_debug).
    settings.DEBUG = True
    # Four real password hashes take seconds; the timing test puts the real hasher back.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def run(*args: str) -> str:
    out = StringIO()
    call_command("load_demo_data", *args, stdout=out)
    return out.getvalue()


def test_prints_the_three_logins_last_and_they_work():
    output = run("--contacts", "50")

    last_lines = output.strip().splitlines()[-4:]
    assert last_lines == [
        "  Department owner (Support): owner / support-helpdesk-24",
        "  Department owner (Marketing): marketing-owner / campaign-season-24",
        "  CX lead: cxlead / big-picture-2024",
        "  Admin (superuser): admin / keys-to-everything-24",
    ]
    for login in load_demo_data.DEMO_LOGINS:
        assert authenticate(username=login.username, password=login.password) is not None


def test_the_demo_owner_sees_only_support_contacts_in_the_admin(client):
    run("--contacts", "100")
    support_contacts = Contact.objects.filter(department_links__department__slug="support").count()

    assert client.login(username="owner", password="support-helpdesk-24")
    owner_view = client.get(reverse("admin:contacts_contact_changelist"))
    assert client.login(username="cxlead", password="big-picture-2024")
    lead_view = client.get(reverse("admin:contacts_contact_changelist"))

    assert 0 < owner_view.context["cl"].result_count == support_contacts < 100
    assert lead_view.context["cl"].result_count == 100


def test_demo_passwords_pass_the_password_validators():
    for login in load_demo_data.DEMO_LOGINS:
        validate_password(login.password, User(username=login.username, email=f"{login.username}@x.example"))


def test_users_get_their_roles_and_departments():
    run("--contacts", "20")

    owner = User.objects.get(username="owner")
    assert owner.is_staff and not owner.is_superuser
    assert list(owner.groups.values_list("name", flat=True)) == [DEPARTMENT_OWNER]
    assert list(owner.departments.values_list("slug", flat=True)) == ["support"]
    assert list(User.objects.get(username="marketing-owner").departments.values_list("slug", flat=True)) == [
        "marketing"
    ]
    lead = User.objects.get(username="cxlead")
    assert list(lead.groups.values_list("name", flat=True)) == [CX_LEAD]
    assert not lead.departments.exists()
    assert User.objects.get(username="admin").is_superuser
    assert sorted(Department.objects.values_list("name", flat=True)) == [
        "Billing",
        "Marketing",
        "Sales",
        "Support",
    ]


def test_a_person_on_several_lists_is_one_contact_known_to_several_departments():
    rng = random.Random(load_demo_data.SEED)
    people = list(contacts_demo.demo_people(rng, 300))
    rows = [row for person in people for row in contacts_demo.demo_list_rows(person, rng)]
    assert len(rows) > len(people) * 1.3  # many people are on two or three lists
    written_differently = {
        row.email for row in rows if row.email != f"{row.person.email_local}@{row.person.email_domain}"
    }
    assert len(written_differently) > 50  # the variants are really there

    run("--contacts", "300")

    # Every person became exactly one contact however the lists wrote them.
    assert Contact.objects.count() == len(people)
    assert DepartmentContact.objects.count() == sum(len(set(person.departments)) for person in people)
    shared = Contact.objects.annotate(n=Count("department_links")).filter(n__gte=2)
    assert shared.count() == sum(1 for person in people if len(person.departments) >= 2)
    # A variant written on another list finds the same contact by its normalised form.
    variant = next(
        row for row in rows if row.email.strip() != f"{row.person.email_local}@{row.person.email_domain}"
    )
    contact = Contact.objects.get(identities__normalised=normalise_email(variant.email))
    assert contact.department_links.count() == len(variant.person.departments)


def test_phone_numbers_in_different_formats_are_one_identity():
    run("--contacts", "300")

    phones = Identity.objects.filter(kind=Identity.Kind.PHONE)
    assert phones.exists()
    assert all(identity.normalised.startswith("+") for identity in phones)
    # One phone identity per contact at most: the formats of one number did not make a second one.
    assert not phones.values("contact").annotate(n=Count("pk")).filter(n__gt=1).exists()


def test_each_department_has_its_own_view_with_locale_time_zone_attributes_and_some_consent():
    run("--contacts", "300")

    views = DepartmentContact.objects.all()
    assert set(views.values_list("locale", flat=True)) == {"en", "de"}
    assert views.filter(time_zone="").count() == 0
    assert views.exclude(attributes__has_keys=["tier", "plan", "country"]).count() == 0
    assert Contact.objects.count() == 300
    # People on several lists: one person, a view per department, each with its own identities.
    shared = Contact.objects.annotate(views=Count("department_links")).filter(views__gt=1)
    assert shared.exists()
    assert (
        DepartmentIdentity.objects.filter(identity__contact__in=shared)
        .values("department")
        .distinct()
        .count()
        > 1
    )
    assert Consent.objects.filter(kind=Consent.Kind.OPT_OUT).exists()


def test_running_twice_changes_nothing():
    run("--contacts", "200")
    counts = [
        model.objects.count() for model in (Contact, Identity, DepartmentContact, Consent, User, Department)
    ]
    password_hash = User.objects.get(username="owner").password

    output = run("--contacts", "200")

    assert [
        model.objects.count() for model in (Contact, Identity, DepartmentContact, Consent, User, Department)
    ] == counts
    assert User.objects.get(username="owner").password == password_hash
    assert "nothing changed" in output


def test_logins_only_prints_logins_and_loads_nothing(settings):
    settings.DEBUG = False

    output = run("--logins-only")

    assert "cxlead / big-picture-2024" in output
    assert not Contact.objects.exists()
    assert not User.objects.filter(username="cxlead").exists()


def test_refuses_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG is off"):
        run("--contacts", "10")
    assert not User.objects.filter(username="admin").exists()


@pytest.mark.slow
def test_the_default_run_loads_three_thousand_people(settings):
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS

    run()

    assert Contact.objects.count() == load_demo_data.DEFAULT_CONTACT_COUNT


def test_the_demo_has_months_of_results_for_the_dashboard(client):
    run("--contacts", "400")
    responses = Response.objects.count()
    assert client.login(username="cxlead", password="big-picture-2024")

    page = client.get("/admin/results/")
    figures = dict(re.findall(r'data-figure="(\w+)">([^<]*)<', page.content.decode()))

    assert 0 < responses < Invitation.objects.filter(sent_at__isnull=False).count()
    assert figures["responses"] == str(responses)
    assert all(figures[figure] not in ("", "—") for figure in ("nps", "csat", "ces"))
    # People several departments know were asked again within 30 days: the gatekeeper said no.
    assert Decision.objects.filter(allowed=False, reason=Reason.RULE).exists()
    # Links expire as the beat would have expired them, so an old unanswered invitation never
    # blocks the survey's next request, and none is left open past its expiry.
    assert not Decision.objects.filter(reason=Reason.ALREADY_INVITED).exists()
    assert not Invitation.objects.filter(status="sent", expires_at__lte=timezone.now()).exists()
    assert Response.objects.values("department").distinct().count() == 4
    # Each month of the history in its own partition of decisions, none left in the default one.
    months = set(Decision.objects.values_list("request_month", flat=True))
    assert len(months) >= 4
    assert months <= {partition.month for partition in decision_partitions()}
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM surveys_decision_default")
        assert cursor.fetchone() == (0,)
    assert "Demo data is already loaded" in run("--contacts", "400")
    assert Response.objects.count() == responses


def test_the_demo_owners_have_people_to_survey_today():
    run("--contacts", "400")

    for username, slug in [("owner", "support"), ("marketing-owner", "marketing")]:
        department = Department.objects.get(slug=slug)
        request = send_request_create(
            actor=actor_for_user(User.objects.get(username=username)),
            department=department,
            survey=Survey.objects.get(department=department, name=f"{department.name} NPS"),
            channel="email",
            audience_kind="all_known",
        )

        report = preflight_summary(send_request_preflight(send_request=request))

        blocked = {block["label"] for block in report["blocks"] if block["count"]}
        assert report["eligible_now"] > 0, slug
        assert f"Rule “One survey per 90 days per department ({department.name})”" in blocked
        assert "Rule “One survey per 30 days per person”" in blocked  # sales asked them 20 days ago


def test_the_demo_follow_ups_start_at_once_though_the_90_day_rule_blocks_surveys(client):
    """Support's detractors answered weeks ago, inside support's "one survey per 90 days": a follow-up
    is a personal reply, so the owner starts one at once; only the CX lead's cap would hold it back."""
    run("--contacts", "400")
    recent = FollowUp.objects.filter(
        department__slug="support", created_at__gte=timezone.now() - dt.timedelta(days=60)
    ).order_by("pk")
    first, second = recent[:2]
    assert client.login(username="owner", password="support-helpdesk-24")

    def start(follow_up: FollowUp):
        url = reverse("admin:results_followup_change", args=[follow_up.pk])
        return client.post(url, {"status": "in_progress", "note": ""})

    assert start(first).status_code == 302
    CompanySettings.objects.update_or_create(pk=1, defaults={"follow_ups_wait_for_frequency_rules": True})
    refused = start(second)  # the 90-day rule blocks a survey of support to them
    assert "One survey per 90 days per department (Support)" in refused.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("in_progress", "open")
