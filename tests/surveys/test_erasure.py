"""Erasing a person (issue 6, privacy): nothing that identifies them is left anywhere in the
database, every consolidated figure reads the same, and someone who had said no stays opted out
when the same address comes back."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from audit.models import AuditEntry
from contacts.consent_selectors import consent_status
from contacts.consent_services import consent_record
from contacts.importing.services import contact_import_run
from contacts.models import (
    Contact,
    ContactImport,
    ContactImportIssue,
    DepartmentContact,
    DepartmentIdentity,
    Identity,
)
from contacts.services import contact_upsert
from departments.actors import actor_for_user
from departments.models import IdempotencyRecord
from results.models import FollowUp
from surveys.models import Answer, Invitation, InvitationToken, Response
from surveys.public.responses import response_submit
from tests import factories

NAME = "Zyxwa Quimbleton"
EMAIL = "Zyxwa.Quimbleton@Example.com"
PHONE = "+49 151 12349876"
SECRETS = ("zyxwa", "quimbleton", "12349876", "crm-77123")


def every_text_value_containing(secrets=SECRETS) -> list[tuple[str, str]]:
    """(table.column, value) of every text, varchar or JSON value in the database holding a secret."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'jsonb', 'ARRAY')"
        )
        columns = cursor.fetchall()
        found = []
        for table, column in columns:
            pattern = "|".join(secrets)
            cursor.execute(
                f'SELECT "{column}"::text FROM "{table}" WHERE "{column}"::text ~* %s',  # noqa: S608
                [pattern],
            )
            found += [(f"{table}.{column}", value) for (value,) in cursor.fetchall()]
    return found


@pytest.fixture
def survey(support):
    survey = factories.SurveyFactory(department=support, questions=[])
    factories.QuestionFactory(survey=survey, position=1, kind="nps")
    factories.QuestionFactory(
        survey=survey, position=2, kind="free_text", text="Anything else?", required=False
    )
    factories.QuestionFactory(
        survey=survey, position=3, kind="single_choice", text="Which product?", choices=["Router", "Phone"],
        required=False,
    )  # fmt: skip
    return survey


@pytest.fixture
def person(support, alice):
    view, _ = contact_upsert(
        actor=actor_for_user(alice),
        department=support,
        identities=[("email", "", EMAIL), ("phone", "", PHONE), ("external", "crm", "CRM-77123")],
        name=NAME,
        locale="de",
        time_zone="Europe/Berlin",
        attributes={"tier": "gold", "ticket_note": "Zyxwa called twice"},
    )
    return view.contact


@pytest.fixture
def answered(support, survey, person):
    """Five answers to the survey: the person's (a detractor who wrote about themselves) and four others."""
    others = [factories.known_contact(support) for _ in range(4)]
    send_request = factories.screened_request(support, survey=survey)
    Invitation.objects.filter(send_request=send_request).update(status="sent")
    scores = {person.pk: 3, others[0].pk: 10, others[1].pk: 8, others[2].pk: 7, others[3].pk: 0}
    for invitation in Invitation.objects.filter(send_request=send_request):
        text = (
            "Zyxwa Quimbleton here, call me on 0151 12349876" if invitation.contact_id == person.pk else "ok"
        )
        response_submit(
            invitation=invitation, answers={1: scores[invitation.contact_id], 2: text, 3: "Router"}
        )
    Invitation.objects.filter(contact=person).update(
        failure_reason="550 zyxwa.quimbleton@example.com: no mailbox"
    )
    return send_request


def figures(survey) -> dict:
    """What the results pages are computed from: NPS, responses, invitations, choice counts."""
    scores = list(
        Answer.objects.filter(question__survey=survey, question__kind="nps").values_list(
            "value_number", flat=True
        )
    )
    promoters = sum(score >= 9 for score in scores)
    detractors = sum(score <= 6 for score in scores)
    return {
        "nps": round(100 * (promoters - detractors) / len(scores), 2),
        "scores": sorted(scores),
        "responses": Response.objects.filter(survey=survey).count(),
        "invitations": Invitation.objects.filter(survey=survey).count(),
        "answered": Invitation.objects.filter(survey=survey, status="answered").count(),
        "routers": Answer.objects.filter(question__survey=survey, value_choices=["Router"]).count(),
        "comments": Answer.objects.filter(question__survey=survey).exclude(value_text="").count(),
    }


def test_erasing_keeps_every_figure_and_leaves_nothing_that_identifies(
    survey, person, answered, support, alice, lead
):
    consent_record(
        actor=actor_for_user(alice), contact=person, kind="opt_out", source="admin", note="Zyxwa phoned in"
    )
    issue_import = ContactImport.objects.create(department=support, filename="list.csv", status="completed")
    ContactImportIssue.objects.create(
        contact_import=issue_import, row_number=7, kind="invalid", column="phone", reason="not a phone",
        data={"email": EMAIL.lower(), "name": NAME, "phone": "n/a"},
    )  # fmt: skip
    # The detractor's follow-up (results/), with what the department wrote about the call.
    assert FollowUp.objects.filter(contact=person).update(note="Called Zyxwa back, unhappy") == 1
    before = figures(survey)
    assert before["nps"] == -20.0 and before["comments"] == 5
    assert every_text_value_containing()  # the check finds the person before

    call_command("erase_contact", EMAIL.upper(), stdout=io.StringIO())

    after = figures(survey)
    assert after == {**before, "comments": 4}  # the person's own comment, and only it, is gone
    assert every_text_value_containing() == []
    assert not Identity.objects.filter(contact=person).exists()
    assert not InvitationToken.objects.filter(invitation__contact=person).exists()
    person.refresh_from_db()
    assert (person.name, person.attributes, person.locale, person.time_zone) == ("", {}, "", "")
    assert Response.objects.filter(contact=person).count() == 1  # the score stays, under the bare id


def test_erasure_is_audited_without_personal_data(person, lead):
    call_command("erase_contact", str(person.pk), stdout=io.StringIO())

    entry = AuditEntry.objects.get(action="contact_erased")
    assert (entry.object_type, entry.object_id, entry.actor) == (
        "contacts.contact",
        str(person.pk),
        "operator",
    )
    assert entry.details["identities"] == 3


def test_someone_who_said_no_stays_opted_out_when_imported_again(person, support, marketing, lead, mallory):
    # An every-department opt-out: the customer's own link (recorded here as a CX lead may).
    consent_record(actor=actor_for_user(lead), contact=person, kind="opt_out", source="unsubscribe_link")
    call_command("erase_contact", EMAIL, stdout=io.StringIO())
    now = timezone.now() + dt.timedelta(seconds=1)

    again, created = contact_upsert(
        actor=actor_for_user(mallory), department=marketing, identities=[("email", "", EMAIL.lower())]
    )
    csv = io.BytesIO(b"email,name\n+49 151 12349876,Someone\n".replace(b"email", b"phone"))
    contact_import_run(department=marketing, file=csv, actor=actor_for_user(mallory), filename="again.csv")
    by_phone = Identity.objects.get(kind="phone").contact_id

    assert created and again.contact_id != person.pk
    for contact_id in (again.contact_id, by_phone):
        verdict = consent_status(contact_id=contact_id, department_id=marketing.pk, channel="email", at=now)
        assert verdict.reason == "opted_out", contact_id


def test_someone_who_had_not_opted_out_comes_back_as_a_new_contact(person, marketing, mallory):
    call_command("erase_contact", EMAIL, stdout=io.StringIO())

    again, created = contact_upsert(
        actor=actor_for_user(mallory), department=marketing, identities=[("email", "", EMAIL)]
    )

    assert created
    now = timezone.now() + dt.timedelta(seconds=1)
    assert consent_status(
        contact_id=again.contact_id, department_id=marketing.pk, channel="email", at=now
    ).allowed


def test_an_opt_out_lifted_before_erasure_is_not_brought_back(
    person, support, alice, lead, marketing, mallory
):
    consent_record(
        actor=actor_for_user(alice), contact=person, kind="opt_out", department=support, source="admin"
    )
    consent_record(
        actor=actor_for_user(alice), contact=person, kind="opt_in", department=support, source="admin"
    )
    call_command("erase_contact", EMAIL, stdout=io.StringIO())

    again, _ = contact_upsert(
        actor=actor_for_user(mallory), department=marketing, identities=[("email", "", EMAIL)]
    )

    assert not again.contact.consents.exists()


# The API: CX leads only.


def test_a_cx_lead_erases_through_the_api(lead_api, person, answered, survey):
    before = figures(survey)

    response = lead_api.post(f"/api/v1/contacts/{person.public_id}/erase")

    assert response.status_code == 200
    assert response.json() == {
        "contact_id": str(person.public_id),
        "identities": 3,
        "free_text_answers": 1,
        "suppressed_identities": 0,
    }
    assert figures(survey) == {**before, "comments": before["comments"] - 1}
    assert every_text_value_containing() == []
    # Again: nothing more to erase, the same figures.
    assert lead_api.post(f"/api/v1/contacts/{person.public_id}/erase").json()["identities"] == 0


def test_a_department_that_knows_the_contact_is_refused_403(support_api, alice_client, person):
    response = support_api.post(f"/api/v1/contacts/{person.public_id}/erase")

    assert response.status_code == 403
    assert response.json()["code"] == "erasure_forbidden"
    assert Identity.objects.filter(contact=person).count() == 3


def test_another_department_gets_404(marketing_api, person):
    response = marketing_api.post(f"/api/v1/contacts/{person.public_id}/erase")
    missing = marketing_api.post(f"/api/v1/contacts/{uuid.uuid4()}/erase")

    assert response.status_code == missing.status_code == 404
    assert response.json()["code"] == missing.json()["code"] == "not_found"
    assert Identity.objects.filter(contact=person).count() == 3


def test_a_missing_contact_is_404_and_get_is_405(lead_api, person):
    assert lead_api.post(f"/api/v1/contacts/{uuid.uuid4()}/erase").status_code == 404
    assert lead_api.post(f"/api/v1/contacts/{person.pk}/erase").status_code == 404  # not an id any more
    assert lead_api.get(f"/api/v1/contacts/{person.public_id}/erase").status_code == 405


def test_the_command_refuses_an_unknown_identity_without_repeating_it(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as error:
        call_command("erase_contact", "nobody@example.com")
    assert "nobody" not in str(error.value)
    assert Contact.objects.count() == 0


# What a retried API call or the admin's history would still show of the person.

UPSERT = {
    "identities": [
        {"kind": "email", "value": EMAIL},
        {"kind": "external", "source": "crm", "value": "CRM-77123"},
    ],
    "name": NAME,
    "attributes": {"ticket_note": "Zyxwa called twice"},
}


def test_a_retry_with_the_same_idempotency_key_replays_nothing_of_an_erased_person(support_api, support):
    def upsert(payload: dict, key: str):
        return support_api.post("/api/v1/contacts", payload, format="json", HTTP_IDEMPOTENCY_KEY=key)

    first = upsert(UPSERT, "upsert-1")
    erased_id = first.json()["id"]
    consent = support_api.post(
        f"/api/v1/contacts/{erased_id}/consents",
        {"kind": "opt_out", "note": "Zyxwa asked on the phone"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="consent-1",
    )
    someone_else = upsert({"identities": [{"kind": "email", "value": "else@example.com"}]}, "upsert-2")
    retried = upsert(UPSERT, "upsert-1")
    assert (first.status_code, consent.status_code, someone_else.status_code) == (201, 201, 201)
    # Before: a retry within the day gets the person back, name, email, attributes and all.
    assert retried["Idempotent-Replayed"] == "true" and retried.json()["name"] == NAME

    call_command("erase_contact", EMAIL, stdout=io.StringIO())

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["upsert-2"]
    assert every_text_value_containing() == []
    again = upsert(UPSERT, "upsert-1")
    # Done anew, as an upsert of someone new: nothing of the erased person is replayed.
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert again.json()["id"] != erased_id


def test_the_admin_history_of_an_erased_person_is_gone(person, support, alice, lead):
    DepartmentContact.objects.filter(contact=person).update(notes="Zyxwa prefers mornings")
    view = DepartmentContact.objects.get(contact=person)
    email = Identity.objects.get(contact=person, kind="email")
    # Marketing supplied it too, in its own spelling.
    supplied = DepartmentIdentity.objects.create(
        department=factories.DepartmentFactory(), identity=email, value=EMAIL.upper()
    )
    consent = consent_record(
        actor=actor_for_user(alice), contact=person, kind="opt_out", source="admin", note="Zyxwa phoned"
    )
    other = factories.known_contact(support, email="other@example.com")
    an_import = ContactImport.objects.create(department=support, filename="list.csv", status="completed")

    def logged(obj, message, user=alice) -> LogEntry:
        """An entry as the admin writes one: the row, its title then, and what changed."""
        return LogEntry.objects.create(
            user=user,
            content_type=ContentType.objects.get_for_model(obj),
            object_id=str(obj.pk),
            object_repr=str(obj)[:200],
            action_flag=CHANGE,
            change_message=json.dumps(message) if isinstance(message, list) else message,
        )

    logged(person, [{"added": {"name": "identity", "object": str(email)}}])
    logged(email, [{"changed": {"fields": ["value"]}}], user=lead)
    logged(view, [{"changed": {"fields": ["name", "notes"]}}])
    logged(supplied, [{"added": {}}])
    logged(consent, [{"added": {}}])
    # Another row's entry quoting the address, as written and normalised.
    logged(an_import, f"Row 7 ({EMAIL}) resolved by hand")
    logged(an_import, [{"changed": {"name": "issue", "object": "Email zyxwa.quimbleton@example.com"}}])
    kept = logged(other, [{"added": {"name": "identity", "object": "Email other@example.com"}}])
    assert every_text_value_containing()  # the history quotes the person before

    call_command("erase_contact", EMAIL, stdout=io.StringIO())

    assert list(LogEntry.objects.all()) == [kept]
    assert every_text_value_containing() == []
    assert not DepartmentIdentity.objects.filter(identity__contact=person).exists()
    view.refresh_from_db()
    assert (view.name, view.locale, view.time_zone, view.attributes, view.notes) == ("", "", "", {}, "")
    assert view.department == support  # the view stays: which departments knew the person still counts
