"""A message speaks as its department knows the person: the address that department may use, and
the name, language and time zone of its own view (surveys/delivery/messages.py `recipients_of`).

Support and marketing both know one person. Marketing's import called her "Noah" and once renamed
the shared record too (the issue's leak 9: support's invitation went out as "Hello Noah again,");
with views, support's message still greets Emma, in support's language, at support's time of day.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.core import mail

from contacts.models import Contact
from departments.models import CompanySettings
from surveys.delivery.reminders import reminders_send
from surveys.delivery.sending import invitations_send_batch
from surveys.models import Invitation
from tests import factories

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


@pytest.fixture(autouse=True)
def no_quiet_hours(settings):
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = "00:00"


@pytest.fixture
def emma(support, marketing) -> Contact:
    """Support's Emma (English, Tokyo); marketing's Noah (German, New York); the person's own
    record says Noah too, in Berlin."""
    contact = factories.known_contact(
        support, email="emma@example.com", name="Emma", locale="en", time_zone="Asia/Tokyo"
    )
    factories.DepartmentContactFactory(
        department=marketing, contact=contact, name="Noah", locale="de", time_zone="America/New_York"
    )
    factories.DepartmentIdentityFactory(department=marketing, identity=contact.identities.get())
    Contact.objects.filter(pk=contact.pk).update(name="Noah", locale="de", time_zone="Europe/Berlin")
    return contact


def send_all(department) -> list[Invitation]:
    send_request = factories.screened_request(department)
    invitations = list(Invitation.objects.filter(send_request=send_request))
    invitations_send_batch(invitation_ids=[i.pk for i in invitations])
    return invitations


def test_each_department_greets_the_person_by_its_own_name(support, marketing, emma):
    send_all(support)
    send_all(marketing)

    support_message, marketing_message = mail.outbox
    assert support_message.body.startswith("Hello Emma,") and "Noah" not in support_message.body
    assert marketing_message.body.startswith("Hallo Noah,")


def test_the_message_speaks_the_departments_language(support, emma):
    send_all(support)

    [message] = mail.outbox
    assert '<html lang="en">' in message.alternatives[0][0]


def test_quiet_hours_follow_the_departments_time_zone(support, marketing, emma, settings):
    """13:00 UTC: 22:00 in support's Tokyo (quiet), 15:00 in the person's own Berlin, 09:00 in
    marketing's New York."""
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = "21:00", "08:00"
    with time_machine.travel(dt.datetime(2026, 6, 10, 13, 0, tzinfo=dt.UTC), tick=False):
        [support_invitation] = send_all(support)
        [marketing_invitation] = send_all(marketing)

    support_invitation.refresh_from_db()
    assert support_invitation.status == "queued"
    assert support_invitation.send_after == dt.datetime(2026, 6, 11, 8, 0, tzinfo=TOKYO)
    marketing_invitation.refresh_from_db()
    assert marketing_invitation.status == "sent"


def test_an_empty_view_field_falls_back_to_the_persons_own(support, emma):
    emma.department_links.filter(department=support).update(name="", locale="")

    send_all(support)

    [message] = mail.outbox
    assert message.body.startswith("Hallo Noah,")


def test_a_department_sends_to_its_own_address_in_its_own_spelling(support, marketing, emma):
    """Marketing later gave a newer address: support still writes to the one it supplied, as it
    wrote it."""
    emma.identities.get().suppliers.filter(department=support).update(value="Emma.Smith@Example.com")
    newer = factories.IdentityFactory(contact=emma, value="emma.new@example.com")
    factories.DepartmentIdentityFactory(department=marketing, identity=newer)

    send_all(support)
    send_all(marketing)

    assert [m.to[0].split("<")[-1] for m in mail.outbox] == [
        "Emma.Smith@Example.com>",
        "emma.new@example.com>",
    ]


def test_an_address_no_longer_shared_is_not_sent_to(support, marketing, emma):
    """Screened while a CX lead shared contact channels; switched off before sending: marketing's
    invitation is cancelled for want of an address of its own, support's goes out."""
    factories.IdentityFactory(contact=emma, value="noah@example.com")  # newer; nobody supplied it
    emma.identities.get(value="emma@example.com").suppliers.filter(department=marketing).delete()
    CompanySettings.objects.update_or_create(pk=1, defaults={"share_contact_channels": True})
    support_request = factories.screened_request(support)
    marketing_request = factories.screened_request(marketing)
    CompanySettings.objects.filter(pk=1).update(share_contact_channels=False)

    invitations_send_batch(invitation_ids=list(Invitation.objects.values_list("pk", flat=True)))

    marketing_invitation = Invitation.objects.get(send_request=marketing_request)
    assert marketing_invitation.status == "cancelled"
    assert marketing_invitation.failure_reason.startswith("no_address")
    assert Invitation.objects.get(send_request=support_request).status == "sent"
    # Support supplied only the first address: the newer one nobody supplied is not its to use.
    assert [m.to[0].split("<")[-1] for m in mail.outbox] == ["emma@example.com>"]


def test_a_reminder_greets_by_the_departments_name_too(support, emma, settings):
    send_all(support)
    mail.outbox.clear()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=settings.REMINDER_MIN_GAP_DAYS, hours=1)

    assert reminders_send(now=later).sent == 1

    [reminder] = mail.outbox
    assert reminder.body.startswith("Hello Emma,")
