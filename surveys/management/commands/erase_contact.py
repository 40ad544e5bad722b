"""Erase a person: `manage.py erase_contact 42` or `manage.py erase_contact ann@example.com`
(any identity: email, phone, or source:external-id). See surveys/erasure.py."""

from django.core.management.base import BaseCommand, CommandError

from contacts.errors import InvalidIdentity
from contacts.models import Identity
from contacts.normalise import normalise_identity
from departments.actors import Actor
from surveys.erasure import contact_erase

# The operator at the console acts as a CX lead; the audit entry names them "operator".
OPERATOR = Actor(department_ids=frozenset(), is_cx_lead=True)


class Command(BaseCommand):
    help = "Erase a contact's personal data, keeping anonymous scores. Give its id or any identity."

    def add_arguments(self, parser):
        parser.add_argument("contact", help="Contact id, email, phone, or source:external-id.")

    def handle(self, *args, contact: str, **options):
        contact_id = _contact_id(contact)
        result = contact_erase(actor=OPERATOR, contact_id=contact_id)
        self.stdout.write(
            f"Erased contact {result.contact_id}: {result.identities} identities, "
            f"{result.free_text_answers} free-text answers; "
            f"{result.suppressed_identities} identities kept as digests to stay opted out."
        )


def _contact_id(given: str) -> int:
    if given.isdigit():
        return int(given)
    for kind, source, value in _readings(given):
        try:
            normalised = normalise_identity(kind, value)
        except InvalidIdentity:
            continue
        found = Identity.objects.filter(kind=kind, source=source, normalised=normalised).first()
        if found is not None:
            return found.contact_id
    # The identity is not echoed: the operator's terminal may be logged.
    raise CommandError("No contact has that identity.")


def _readings(given: str) -> list[tuple[str, str, str]]:
    """The identities `given` could be: an email, a phone number, or source:external-id."""
    readings = [("email", "", given), ("phone", "", given)]
    source, sep, value = given.partition(":")
    if sep and value:
        readings.append(("external", source, value))
    return readings
