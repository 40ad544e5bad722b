"""A rule's history in words (issue 15): each version says what changed ("window 30 → 45 days"), by
whom and when, under the name the rule had then; a bad value is refused in plain words, on the admin's
form and in the API."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from departments.actors import actor_for_user
from surveys.gatekeeper.frequency_rules import frequency_rule_create, frequency_rule_update
from surveys.gatekeeper.rule_history import version_changes
from surveys.models import FrequencyRule

DAY = dt.timedelta(days=1)

BEFORE = {
    "name": "Monthly",
    "is_active": True,
    "max_touches": 1,
    "window_seconds": 30 * 86400,
    "scope_department_id": None,
    "scope_survey_kind": "",
    "scope_channel": "",
    "clock": "invitation",
    "new_contact_grace_seconds": None,
}


@pytest.mark.parametrize(
    ("changed", "words"),
    [
        ({"window_seconds": 45 * 86400}, ["window 30 → 45 days"]),
        ({"window_seconds": 12 * 3600}, ["window 30 days → 12 hours"]),
        ({"max_touches": 2}, ["max touches 1 → 2"]),
        ({"scope_channel": "email"}, ["scope: any channel → email"]),
        ({"scope_survey_kind": "transactional"}, ["scope: any kind of survey → transactional"]),
        ({"name": "Six weekly"}, ["name “Monthly” → “Six weekly”"]),
        ({"is_active": False}, ["active → inactive"]),
        ({"clock": "response"}, ["counted from: invitation sent → response received"]),
        ({"new_contact_grace_seconds": 7 * 86400}, ["new contact grace none → 7 days"]),
        ({"max_touches": 2, "window_seconds": 45 * 86400}, ["max touches 1 → 2", "window 30 → 45 days"]),
        ({}, []),
    ],
)
def test_a_versions_changes_in_words(changed, words):
    assert version_changes(BEFORE, BEFORE | changed, {}) == words


def test_a_department_scope_is_named():
    assert version_changes(BEFORE, BEFORE | {"scope_department_id": 7}, {7: "Support"}) == [
        "scope: any department → Support"
    ]


def test_the_first_version_says_what_was_created():
    assert version_changes(None, BEFORE | {"scope_channel": "email"}, {}) == [
        "created: at most 1 touch per 30 days, any department, any kind of survey, email"
    ]


@pytest.fixture
def rule(lead):
    actor = actor_for_user(lead)
    rule = frequency_rule_create(actor=actor, name="Monthly", max_touches=1, window=30 * DAY)
    rule = frequency_rule_update(actor=actor, rule=rule, window=45 * DAY)
    return frequency_rule_update(
        actor=actor, rule=rule, name="Six weekly", max_touches=2, scope_channel="email"
    )


def test_the_api_shows_each_version_as_a_diff_in_words_under_its_name_then(rule, support_api):
    versions = support_api.get(f"/api/v1/frequency-rules/{rule.pk}").json()["versions"]

    created = "created: at most 1 touch per 30 days, any department, any kind of survey, any channel"
    renamed = ["name “Monthly” → “Six weekly”", "max touches 1 → 2", "scope: any channel → email"]
    assert [(v["version"], v["name"], v["changes"], v["changed_by"]) for v in versions] == [
        (3, "Six weekly", renamed, "lead"),
        (2, "Monthly", ["window 30 → 45 days"], "lead"),
        (1, "Monthly", [created], "lead"),
    ]
    assert all(v["created_at"] for v in versions)


def test_the_admin_shows_each_version_as_a_diff_in_words_under_its_name_then(rule, lead_client):
    page = lead_client.get(reverse("admin:surveys_frequencyrule_change", args=[rule.pk])).content.decode()

    assert "window 30 → 45 days" in page
    assert "max touches 1 → 2; scope: any channel → email" in page
    rows = page.split('class="form-row')[1:]
    assert "Monthly" in rows[-1] and "Six weekly" not in rows[-1]  # version 1, under its name then


def rule_form(**fields) -> dict:
    return {
        "name": "One survey per 7 days",
        "is_active": "on",
        "max_touches": "1",
        "window": "7 00:00:00",
        "scope_department": "",
        "scope_survey_kind": "",
        "scope_channel": "",
        "clock": "invitation",
        "new_contact_grace": "",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        **fields,
    }


@pytest.mark.parametrize("window", ["0", "-1 00:00:00"])
def test_the_admin_form_says_the_window_must_be_longer_than_zero(lead_client, window):
    response = lead_client.post(reverse("admin:surveys_frequencyrule_add"), rule_form(window=window))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["window"] == ["The window must be longer than zero."]
    assert "Constraint" not in response.content.decode()
    assert not FrequencyRule.objects.exists()


def test_the_admin_form_names_other_bad_values_in_words(lead_client):
    response = lead_client.post(
        reverse("admin:surveys_frequencyrule_add"), rule_form(new_contact_grace="-1 00:00:00")
    )

    assert response.context["adminform"].form.errors["new_contact_grace"] == [
        "The new contact grace must be longer than zero."
    ]


@pytest.mark.parametrize("window", ["P0D", "-P1D", "PT0S"])
def test_the_api_says_the_window_must_be_longer_than_zero(lead_api, window):
    answer = lead_api.post(
        "/api/v1/frequency-rules", {"name": "x", "max_touches": 1, "window": window}, format="json"
    )

    assert answer.status_code == 400
    body = answer.json()
    assert "the window must be longer than zero" in body["message"]
    assert body["extra"]["field"] == "window"
    assert not FrequencyRule.objects.exists()


def test_a_changed_window_of_zero_is_refused_and_the_rule_stays(rule, lead_api):
    answer = lead_api.patch(f"/api/v1/frequency-rules/{rule.pk}", {"window": "P0D"}, format="json")

    assert answer.status_code == 400
    assert "the window must be longer than zero" in answer.json()["message"]
    rule.refresh_from_db()
    assert (rule.window, rule.version) == (45 * DAY, 3)
