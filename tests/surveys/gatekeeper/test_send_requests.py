"""Send requests: creating them, the pre-flight report, submitting, screening, cancelling, and
audiences uploaded as CSV."""

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from contacts.models import Consent, Identity
from cxfeedback.exceptions import NotFound
from departments.actors import actor_for_user
from surveys.errors import AudienceLocked, InvalidSendRequest, InvalidStatusTransition
from surveys.gatekeeper.audiences import send_request_set_audience_upload
from surveys.gatekeeper.frequency_rules import frequency_rule_create
from surveys.gatekeeper.preflight import preflight_summary, send_request_preflight
from surveys.gatekeeper.send_requests import (
    send_request_cancel,
    send_request_create,
    send_request_screen,
    send_request_submit,
)
from surveys.models import AudienceMember, Decision, Invitation, SendRequest, Survey
from tests import factories

NOW = timezone.now().replace(microsecond=0)
DAY = dt.timedelta(days=1)


def week_of(moment: dt.datetime) -> dt.date:
    day = moment.astimezone(dt.UTC).date()
    return day - dt.timedelta(days=day.weekday())


@pytest.fixture
def survey(support):
    return factories.SurveyFactory(department=support, name="Support NPS")


@pytest.fixture
def marketing_survey(marketing):
    return factories.SurveyFactory(department=marketing, name="Spring campaign NPS")


@pytest.fixture
def rules(lead, support):
    actor = actor_for_user(lead)
    everyone = frequency_rule_create(
        actor=actor, name="One survey per 30 days per person", max_touches=1, window=30 * DAY
    )
    department = frequency_rule_create(
        actor=actor,
        name="One survey per 90 days per department",
        max_touches=1,
        window=90 * DAY,
        scope_department=support,
    )
    return everyone, department


def touch(contact, survey, *, at: dt.datetime, status: str = "sent") -> Invitation:
    """A past (or planned) invitation of `survey` to `contact`: a counted touch."""
    history = factories.SendRequestFactory(department=survey.department, survey=survey, status="completed")
    return Invitation.objects.create(
        send_request=history,
        survey=survey,
        survey_family_id=survey.family_id,
        department=survey.department,
        survey_kind=survey.kind,
        contact=contact,
        channel="email",
        status=status,
        touched_at=at,
    )


def draft(alice, support, survey, **fields) -> SendRequest:
    fields.setdefault("earliest_send_at", NOW)
    return send_request_create(
        actor=actor_for_user(alice),
        department=support,
        survey=survey,
        channel=fields.pop("channel", "email"),
        audience_kind=fields.pop("audience_kind", "all_known"),
        now=NOW,
        **fields,
    )


# Creating


def test_create_makes_a_draft_with_what_was_asked(alice, support, survey):
    request = draft(
        alice,
        support,
        survey,
        channel="sms",
        audience_kind="filter",
        audience_filter={"tier": "gold", "vip": True},
        latest_send_at=NOW + 7 * DAY,
        priority=8,
        purpose=" Quarterly check ",
    )

    request.refresh_from_db()
    assert request.status == "draft"
    assert (request.channel, request.audience_kind, request.audience_filter) == (
        "sms",
        "filter",
        {"tier": "gold", "vip": True},
    )
    assert (request.earliest_send_at, request.latest_send_at) == (NOW, NOW + 7 * DAY)
    assert (request.priority, request.purpose, request.created_by) == (8, "Quarterly check", alice)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"channel": "pigeon"}, "channel"),
        ({"audience_kind": "trigger"}, "audience_kind"),
        ({"audience_kind": "filter"}, "audience_filter"),
        ({"audience_kind": "filter", "audience_filter": {"address": {"city": "Berlin"}}}, "audience_filter"),
        ({"audience_kind": "filter", "audience_filter": ["gold"]}, "audience_filter"),
        ({"audience_kind": "upload", "audience_filter": {"tier": "gold"}}, "audience_filter"),
        ({"latest_send_at": NOW - DAY, "earliest_send_at": NOW - 2 * DAY}, "latest_send_at"),
        ({"earliest_send_at": NOW + 2 * DAY, "latest_send_at": NOW + DAY}, "latest_send_at"),
        ({"priority": 11}, "priority"),
    ],
)
def test_create_refuses_what_cannot_be_sent_and_names_the_field(alice, support, survey, fields, field):
    with pytest.raises(InvalidSendRequest) as error:
        draft(alice, support, survey, **fields)

    assert error.value.extra["field"] == field
    assert error.value.message.startswith(f"{field}: ")
    assert not SendRequest.objects.exists()


def test_create_needs_a_current_survey_of_the_department(alice, support, survey, marketing_survey):
    with pytest.raises(InvalidSendRequest, match="survey: is not a survey of this department"):
        draft(alice, support, marketing_survey)

    Survey.objects.filter(pk=survey.pk).update(is_current=False)
    newer = factories.SurveyFactory(department=support, family_id=survey.family_id, version=2)
    survey.refresh_from_db()
    with pytest.raises(InvalidSendRequest) as error:
        draft(alice, support, survey)
    assert error.value.extra == {"field": "survey", "current_id": newer.pk}


def test_nobody_creates_requests_for_another_department(mallory, support, survey):
    with pytest.raises(NotFound):
        draft(mallory, support, survey)


# The pre-flight report


@pytest.fixture
def audience(support, marketing_survey, survey):
    """Support's contacts, one for each reason the gatekeeper gives."""
    contacts = {
        name: factories.known_contact(support)
        for name in (
            "eligible",
            "opted_out",
            "snoozed",
            "invited",
            "by_marketing",
            "by_support",
        )
    }
    contacts["no_email"] = factories.ContactFactory()
    factories.IdentityFactory(
        contact=contacts["no_email"], kind=Identity.Kind.PHONE, value="+4930123456", normalised="+4930123456"
    )
    factories.DepartmentContactFactory(department=support, contact=contacts["no_email"])
    factories.ConsentFactory(contact=contacts["opted_out"], created_at=NOW - DAY)
    factories.ConsentFactory(
        contact=contacts["snoozed"], kind=Consent.Kind.SNOOZE, until=NOW + 10 * DAY, created_at=NOW - DAY
    )
    touch(contacts["invited"], survey, at=NOW - 100 * DAY, status="delivered")
    touch(contacts["by_marketing"], marketing_survey, at=NOW - 12 * DAY)
    touch(contacts["by_support"], factories.SurveyFactory(department=survey.department), at=NOW - 40 * DAY)
    return contacts


def test_preflight_counts_every_reason_and_names_the_rules(alice, support, survey, rules, audience):
    request = draft(alice, support, survey, latest_send_at=NOW + 20 * DAY)

    report = preflight_summary(send_request_preflight(send_request=request, now=NOW))

    assert (report["audience_rows"], report["contacts"], report["eligible_now"]) == (7, 7, 1)
    # The snooze (10 days) and marketing's touch under the 30-day rule (18 days) end inside the
    # 20-day window: planned for then, not refused.
    assert report["planned_later"] == 2
    assert report["blocked_total"] == 4
    counts = {block["label"]: block["count"] for block in report["blocks"]}
    assert counts == {
        "Opted out": 1,
        "Snoozed": 0,
        "Blackout (a complaint, ticket, outage or cancellation)": 0,
        "Already has an open invitation for this survey": 1,
        "Rule “One survey per 90 days per department”": 1,
        "No address on this channel": 1,
    }


def test_preflight_says_when_blocked_contacts_become_eligible_by_week(
    alice, support, survey, rules, audience
):
    request = draft(alice, support, survey, latest_send_at=NOW + 5 * DAY)  # too short to plan anyone

    report = preflight_summary(send_request_preflight(send_request=request, now=NOW))

    weeks = {block["label"]: block["eligible_again"] for block in report["blocks"]}
    assert weeks["Snoozed"] == [{"week": week_of(NOW + 10 * DAY), "count": 1}]
    assert weeks["Rule “One survey per 30 days per person”"] == [
        {"week": week_of(NOW + 18 * DAY), "count": 1}
    ]
    assert weeks["Rule “One survey per 90 days per department”"] == [
        {"week": week_of(NOW + 50 * DAY), "count": 1}
    ]
    assert weeks["Opted out"] == []  # an opt-out has no end


def test_preflight_plans_blocks_that_end_inside_the_window_by_day(alice, support, survey, rules, audience):
    request = draft(alice, support, survey, latest_send_at=NOW + 20 * DAY)

    report = preflight_summary(send_request_preflight(send_request=request, now=NOW))

    assert report["planned_by_day"] == [
        {"day": (NOW + 10 * DAY).date(), "count": 1},  # the snooze's end
        {"day": (NOW + 18 * DAY).date(), "count": 1},  # 30 days after marketing's touch
    ]


def test_best_send_time_is_when_the_last_block_inside_the_window_ends(
    alice, support, survey, rules, audience
):
    within = draft(alice, support, survey, latest_send_at=NOW + 20 * DAY)
    short = draft(alice, support, survey, latest_send_at=NOW + 5 * DAY)
    open_ended = draft(alice, support, survey)

    # Marketing's touch 12 days ago ends its 30-day block in 18 days and the snooze ends in 10:
    # both are planned for then, so sending now reaches as many as waiting would.
    assert send_request_preflight(send_request=within, now=NOW).best_send_at == NOW
    assert send_request_preflight(send_request=short, now=NOW).best_send_at == NOW
    assert send_request_preflight(send_request=open_ended, now=NOW).best_send_at == NOW


def test_preflight_changes_nothing(alice, support, survey, rules, audience):
    request = draft(alice, support, survey)
    before = (
        Decision.objects.count(),
        Invitation.objects.count(),
        Survey.objects.get(pk=survey.pk).frozen_at,
    )

    send_request_preflight(send_request=request, now=NOW)

    request.refresh_from_db()
    after = (Decision.objects.count(), Invitation.objects.count(), Survey.objects.get(pk=survey.pk).frozen_at)
    assert after == before
    assert request.status == "draft"


# Submitting, screening, cancelling


def test_submit_freezes_the_survey_and_queues_the_screening(
    alice, support, survey, rules, audience, django_capture_on_commit_callbacks
):
    request = draft(alice, support, survey)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        send_request_submit(send_request=request, actor=actor_for_user(alice), now=NOW)

    request.refresh_from_db()
    survey.refresh_from_db()
    assert (request.status, request.submitted_at) == ("submitted", NOW)
    assert survey.frozen_at == NOW
    assert len(callbacks) == 1  # screen_send_request_task, after commit
    assert not Decision.objects.filter(send_request=request).exists()


def test_screening_decides_every_contact_as_the_preflight_said(alice, support, survey, rules, audience):
    request = draft(alice, support, survey)
    expected = preflight_summary(send_request_preflight(send_request=request, now=NOW))
    send_request_submit(send_request=request, actor=actor_for_user(alice), now=NOW)

    screened = send_request_screen(send_request_id=request.pk, now=NOW)

    assert screened.status == "screened"
    decisions = Decision.objects.filter(send_request=request)
    assert decisions.count() == expected["contacts"] == 7
    assert list(decisions.filter(allowed=True).values_list("contact", flat=True)) == [audience["eligible"].pk]
    assert list(Invitation.objects.filter(send_request=request).values_list("contact", "status")) == [
        (audience["eligible"].pk, "queued")
    ]
    thirty, ninety = rules
    assert decisions.get(contact=audience["by_marketing"]).rule == thirty
    assert decisions.get(contact=audience["by_support"]).rule_version == ninety.version
    assert screened.screening_summary["allowed"] == expected["eligible_now"]
    assert send_request_screen(send_request_id=request.pk, now=NOW) is None  # a repeated task does nothing


def test_cancel_releases_queued_invitations_so_they_stop_counting(alice, support, survey, rules, audience):
    actor = actor_for_user(alice)
    first = draft(alice, support, survey)
    send_request_submit(send_request=first, actor=actor, now=NOW)
    send_request_screen(send_request_id=first.pk, now=NOW)
    second_survey = factories.SurveyFactory(department=support)
    second = draft(alice, support, second_survey)
    eligible_before = send_request_preflight(send_request=second, now=NOW).outcome.allowed
    first.refresh_from_db()

    send_request_cancel(send_request=first, actor=actor, now=NOW)

    first.refresh_from_db()
    assert (first.status, first.cancelled_at) == ("cancelled", NOW)
    assert set(Invitation.objects.filter(send_request=first).values_list("status", flat=True)) == {
        "cancelled"
    }
    # The queued invitation blocked its contact for the second survey; cancelled, it no longer counts
    # (the other eligible contact is the one whose open invitation was for the first survey only).
    assert (eligible_before, send_request_preflight(send_request=second, now=NOW).outcome.allowed) == (1, 2)
    with pytest.raises(InvalidStatusTransition):
        send_request_cancel(send_request=first, actor=actor, now=NOW)


# Audiences uploaded as CSV


def csv_file(text: str, name: str = "audience.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_upload_imports_the_list_and_keeps_every_row_naming_a_contact(alice, support, survey):
    request = draft(alice, support, survey, audience_kind="upload")
    known = factories.known_contact(support, email="ann@example.com")
    file = csv_file(
        "email,name\nAnn@Example.com,Ann\nbob@example.com,Bob\nnot-an-email,X\nANN@example.com,Ann\n"
    )

    upload = send_request_set_audience_upload(actor=actor_for_user(alice), send_request=request, file=file)

    assert upload.members == 3
    assert upload.contact_import.counts["invalid"] == 1
    rows = list(AudienceMember.objects.filter(send_request=request).order_by("row_number"))
    bob = Identity.objects.get(normalised="bob@example.com").contact
    assert [(row.row_number, row.contact_id) for row in rows] == [(2, known.pk), (3, bob.pk), (5, known.pk)]
    report = preflight_summary(send_request_preflight(send_request=request, now=NOW))
    assert (report["audience_rows"], report["contacts"], report["duplicates"]) == (3, 2, 1)
    assert sum(block["count"] for block in report["blocks"]) == report["blocked_total"]


def test_a_new_upload_replaces_the_audience(alice, support, survey):
    request = draft(alice, support, survey, audience_kind="upload")
    actor = actor_for_user(alice)
    send_request_set_audience_upload(
        actor=actor, send_request=request, file=csv_file("email\na@example.com\n")
    )

    send_request_set_audience_upload(
        actor=actor, send_request=request, file=io.BytesIO(b"email\nb@example.com\n")
    )

    assert list(
        AudienceMember.objects.filter(send_request=request).values_list(
            "contact__identities__normalised", flat=True
        )
    ) == ["b@example.com"]


def test_only_a_draft_with_an_uploaded_list_takes_a_file(alice, mallory, support, survey):
    actor = actor_for_user(alice)
    everyone = draft(alice, support, survey)
    with pytest.raises(InvalidSendRequest, match="audience_kind"):
        send_request_set_audience_upload(
            actor=actor, send_request=everyone, file=csv_file("email\na@example.com\n")
        )

    upload = draft(alice, support, survey, audience_kind="upload")
    with pytest.raises(NotFound):
        send_request_set_audience_upload(
            actor=actor_for_user(mallory), send_request=upload, file=csv_file("email\na@example.com\n")
        )
    send_request_submit(send_request=upload, actor=actor, now=NOW)
    with pytest.raises(AudienceLocked):
        send_request_set_audience_upload(
            actor=actor, send_request=upload, file=csv_file("email\na@example.com\n")
        )
    assert not AudienceMember.objects.exists()
