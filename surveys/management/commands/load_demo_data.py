"""`manage.py load_demo_data`: departments, the demo logins and a few thousand contacts to try the
admin with; `--logins-only` prints the logins and changes nothing. `make run` (scripts/run.py) calls
it once, and with `--logins-only` on every later start.

Running it again changes nothing: departments and users are found by name, contacts by their
normalised identities (contacts/demo.py), rules and surveys by name (surveys/demo.py).

Each part is one function called from `Command.load`: the departments and logins here, the contacts
(each department's own view of the people on its list) in contacts/demo.py, their consent in
contacts/demo_consents.py, the frequency rules, surveys and their history in surveys/demo.py.
Passwords are set when a user is created; one changed later is not reset or known.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from contacts.demo import demo_contacts
from contacts.demo_consents import demo_consents
from departments.models import Department
from departments.roles import CX_LEAD, DEPARTMENT_OWNER
from surveys.demo import load_demo_history, load_demo_surveys
from surveys.gatekeeper.decision_partitions import decision_partitions_ensure

SEED = 20240917  # fixed, so every machine gets the same demo contacts
DEFAULT_CONTACT_COUNT = 3000
DEMO_DEPARTMENTS = {"support": "Support", "marketing": "Marketing", "sales": "Sales", "billing": "Billing"}


@dataclass(frozen=True)
class DemoLogin:
    role: str
    username: str
    password: str  # published on purpose; passes Django's password validators (tested)
    group: str | None = None
    department_slugs: tuple[str, ...] = ()
    superuser: bool = False

    def line(self) -> str:
        departments = ", ".join(DEMO_DEPARTMENTS[slug] for slug in self.department_slugs)
        role = f"{self.role} ({departments})" if departments else self.role
        return f"{role}: {self.username} / {self.password}"


DEMO_LOGINS = (
    DemoLogin("Department owner", "owner", "support-helpdesk-24", DEPARTMENT_OWNER, ("support",)),
    DemoLogin("Department owner", "marketing-owner", "campaign-season-24", DEPARTMENT_OWNER, ("marketing",)),
    DemoLogin("CX lead", "cxlead", "big-picture-2024", CX_LEAD),
    DemoLogin("Admin (superuser)", "admin", "keys-to-everything-24", superuser=True),
)


class Command(BaseCommand):
    help = "Load demo departments, logins and contacts (idempotent), then print the demo logins."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--logins-only", action="store_true", help="Only print the demo logins.")
        parser.add_argument("--contacts", type=int, default=DEFAULT_CONTACT_COUNT, help="People to generate.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Load even with DEBUG off: the demo logins' passwords are public.",
        )

    def handle(self, *args, logins_only: bool, contacts: int, force: bool, **options) -> None:
        if not logins_only:
            if not settings.DEBUG and not force:
                raise CommandError(
                    "DEBUG is off: this looks like production, and the demo logins have published "
                    "passwords. Use --force if you really want demo data here."
                )
            self.load(contact_count=contacts)
        self.stdout.write(f"\nDemo logins for {settings.SITE_URL}/admin/")
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {login.line()}")

    @transaction.atomic
    def load(self, *, contact_count: int) -> None:
        rng = random.Random(SEED)
        departments = demo_departments()
        demo_users(departments)
        loaded = demo_contacts(departments, count=contact_count, rng=rng)  # contacts/demo.py
        consent_count = demo_consents(loaded.new_contact_ids, departments, rng=rng)
        survey_count = load_demo_surveys(departments)  # surveys/demo.py: default rules, an NPS survey each
        response_count = load_demo_history(departments, rng=rng)  # surveys/demo.py: five months of results
        decision_partitions_ensure()  # the history's months get their partitions now, not at the beat's
        if not (
            loaded.new_contacts
            or loaded.new_identities
            or loaded.new_links
            or consent_count
            or survey_count
            or response_count
        ):
            self.stdout.write("Demo data is already loaded; nothing changed.")
            return
        self.stdout.write(
            f"Demo data: {len(departments)} departments; {loaded.new_contacts} new contacts "
            f"({loaded.shared} of them known to several departments), {loaded.new_identities} new "
            f"identities, {loaded.new_links} new department views, {consent_count} new consent records, "
            f"{response_count} past responses."
        )


# --- Departments and logins ---------------------------------------------------------------------


def demo_departments() -> dict[str, Department]:
    """The four demo departments by slug, created if missing."""
    return {
        slug: Department.objects.get_or_create(slug=slug, defaults={"name": name})[0]
        for slug, name in DEMO_DEPARTMENTS.items()
    }


def demo_users(departments: dict[str, Department]) -> None:
    """Create the DEMO_LOGINS users if missing; make sure of their staff flag, group and departments."""
    groups = {group.name: group for group in Group.objects.filter(name__in=[DEPARTMENT_OWNER, CX_LEAD])}
    if len(groups) < 2:
        raise CommandError("The role groups are missing; run `manage.py migrate` first.")
    user_model = get_user_model()
    for login in DEMO_LOGINS:
        user = user_model.objects.filter(username=login.username).first()
        if user is None:
            user = user_model(username=login.username, email=f"{login.username}@cxfeedback.example")
            validate_password(login.password, user)
            user.set_password(login.password)
        if not user.is_staff or user.is_superuser != login.superuser or user.pk is None:
            user.is_staff, user.is_superuser = True, login.superuser
            user.save()
        if login.group:
            user.groups.add(groups[login.group])
        for slug in login.department_slugs:
            departments[slug].members.add(user)
