"""A department sends only to the addresses it supplied itself, the ones the customer gave the
company, or (when a CX lead shares contact channels company-wide) any of the person's; and picks its
audience by its own view's attributes. Both the bulk screening and a trigger's single-contact
statement decide so (surveys/gatekeeper/screening_sql.py `addressed`, screening.py `Audience`).

Support and marketing both know Ann: support supplied her email address, marketing only her phone.
"""

from __future__ import annotations

import pytest

from contacts.models import Contact
from departments.models import CompanySettings
from surveys.gatekeeper.triggers import trigger_send
from surveys.models import Decision
from tests import factories


@pytest.fixture
def ann(support, marketing) -> Contact:
    contact = factories.known_contact(support, email="ann@example.com", name="Ann")
    factories.DepartmentContactFactory(department=marketing, contact=contact, name="Ann M.")
    phone = factories.IdentityFactory(contact=contact, kind="phone", value="+4915112345678")
    factories.DepartmentIdentityFactory(department=marketing, identity=phone)
    return contact


def share_contact_channels(on: bool) -> None:
    CompanySettings.objects.update_or_create(pk=1, defaults={"share_contact_channels": on})


def decision_of(department, contact, **request) -> Decision:
    """Screen a request of `department` to every contact it knows; the contact's decision."""
    send_request = factories.screened_request(department, **request)
    return Decision.objects.get(send_request=send_request, contact=contact)


def test_a_department_emails_only_an_address_it_supplied(support, marketing, ann):
    assert decision_of(support, ann).allowed
    blocked = decision_of(marketing, ann)

    assert (blocked.allowed, blocked.reason) == (False, "no_address")


def test_a_department_texts_the_phone_it_supplied(marketing, ann):
    assert decision_of(marketing, ann, channel="sms").allowed


def test_a_trigger_decides_the_same(support, marketing, ann):
    support_survey = factories.SurveyFactory(department=support, kind="transactional")
    marketing_survey = factories.SurveyFactory(department=marketing, kind="transactional")

    allowed = trigger_send(department=support, survey=support_survey, channel="email", contact_id=ann.pk)
    blocked = trigger_send(department=marketing, survey=marketing_survey, channel="email", contact_id=ann.pk)

    assert allowed.decision.allowed and allowed.invitation is not None
    assert (blocked.decision.reason, blocked.invitation) == ("no_address", None)


def test_with_contact_channels_shared_every_department_may_use_every_address(marketing, ann):
    share_contact_channels(True)

    assert decision_of(marketing, ann).allowed


def test_an_address_the_customer_gave_is_everyones(marketing, ann):
    ann.identities.filter(kind="email").update(given_by_customer=True)

    assert decision_of(marketing, ann).allowed


def test_a_filtered_audience_reads_the_departments_own_attributes(support, marketing, ann):
    """Support's view says gold, marketing's bronze, the person's own record platinum: each
    department's filter sees only its own view."""
    ann.department_links.filter(department=support).update(attributes={"tier": "gold"})
    ann.department_links.filter(department=marketing).update(attributes={"tier": "bronze"})
    Contact.objects.filter(pk=ann.pk).update(attributes={"tier": "platinum"})
    share_contact_channels(True)  # so every department may email her: only the filter decides

    def audience(department, tier: str) -> set[int]:
        send_request = factories.screened_request(
            department, audience_kind="filter", audience_filter={"tier": tier}
        )
        return set(Decision.objects.filter(send_request=send_request).values_list("contact_id", flat=True))

    assert audience(support, "gold") == {ann.pk}
    assert audience(marketing, "gold") == set()
    assert audience(marketing, "bronze") == {ann.pk}
    assert audience(support, "platinum") == audience(marketing, "platinum") == set()
