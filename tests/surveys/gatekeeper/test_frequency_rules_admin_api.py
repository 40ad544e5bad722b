"""Frequency rules are data that only CX leads write; every change is kept as a version."""

import datetime as dt

import pytest
from django.urls import reverse

from departments.actors import actor_for_user
from surveys.errors import InvalidFrequencyRule, RuleChangeForbidden
from surveys.gatekeeper.frequency_rules import (
    frequency_rule_create,
    frequency_rule_deactivate,
    frequency_rule_update,
)
from surveys.models import FrequencyRule, FrequencyRuleVersion

DAY = dt.timedelta(days=1)


@pytest.fixture
def rule(lead):
    return frequency_rule_create(
        actor=actor_for_user(lead), name="One survey per 30 days", max_touches=1, window=30 * DAY
    )


def versions(rule) -> list[tuple[int, dict]]:
    return list(
        FrequencyRuleVersion.objects.filter(rule=rule).order_by("version").values_list("version", "snapshot")
    )


# Services


def test_creating_a_rule_writes_version_one(lead, support):
    rule = frequency_rule_create(
        actor=actor_for_user(lead),
        name=" Twice a day on SMS ",
        max_touches=2,
        window=dt.timedelta(hours=24),
        scope_department=support,
        scope_channel="sms",
        clock="response",
        new_contact_grace=7 * DAY,
    )

    assert (rule.name, rule.version) == ("Twice a day on SMS", 1)
    [(number, snapshot)] = versions(rule)
    assert number == 1
    assert snapshot == {
        "name": "Twice a day on SMS",
        "is_active": True,
        "max_touches": 2,
        "window_seconds": 86400,
        "scope_department_id": support.pk,
        "scope_survey_kind": "",
        "scope_channel": "sms",
        "clock": "response",
        "new_contact_grace_seconds": 7 * 86400,
        "per_account": False,
        "counts": "touches",
    }
    assert FrequencyRuleVersion.objects.get(rule=rule).changed_by == lead


def test_every_change_is_a_new_version_and_no_change_writes_nothing(lead, rule):
    actor = actor_for_user(lead)

    frequency_rule_update(actor=actor, rule=rule, max_touches=2, window=dt.timedelta(hours=12))
    frequency_rule_update(actor=actor, rule=rule, max_touches=2)  # nothing changes
    frequency_rule_deactivate(actor=actor, rule=rule)

    rule.refresh_from_db()
    assert (rule.version, rule.is_active, rule.max_touches) == (3, False, 2)
    assert [
        (number, snapshot["max_touches"], snapshot["window_seconds"], snapshot["is_active"])
        for number, snapshot in versions(rule)
    ] == [
        (1, 1, 30 * 86400, True),
        (2, 2, 12 * 3600, True),
        (3, 2, 12 * 3600, False),
    ]


def test_department_owners_never_change_rules(alice, rule, support):
    actor = actor_for_user(alice)

    with pytest.raises(RuleChangeForbidden) as error:
        frequency_rule_create(actor=actor, name="Mine", max_touches=9, window=DAY)
    assert error.value.status_code == 403
    with pytest.raises(RuleChangeForbidden):
        frequency_rule_update(actor=actor, rule=rule, max_touches=9)
    with pytest.raises(RuleChangeForbidden):
        frequency_rule_deactivate(actor=actor, rule=rule)

    rule.refresh_from_db()
    assert (rule.version, rule.max_touches, rule.is_active) == (1, 1, True)
    assert FrequencyRule.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"max_touches": 0}, "max_touches"),
        ({"window": dt.timedelta(0)}, "window"),
        ({"window": 5000 * DAY}, "window"),
        ({"new_contact_grace": -DAY}, "new_contact_grace"),
        ({"scope_channel": "fax"}, "scope_channel"),
        ({"scope_survey_kind": "nps"}, "scope_survey_kind"),
        ({"clock": "moon"}, "clock"),
        ({"name": ""}, "name"),
    ],
)
def test_invalid_rules_name_the_field(lead, fields, field):
    arguments = {"name": "Rule", "max_touches": 1, "window": DAY} | fields

    with pytest.raises(InvalidFrequencyRule) as error:
        frequency_rule_create(actor=actor_for_user(lead), **arguments)

    assert error.value.extra == {"field": field}
    assert not FrequencyRule.objects.exists()


# Admin


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
        "counts": "touches",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        **fields,
    }


def test_a_cx_lead_creates_and_edits_rules_in_the_admin(lead_client, lead):
    response = lead_client.post(reverse("admin:surveys_frequencyrule_add"), rule_form())
    assert response.status_code == 302, response.context["adminform"].errors if response.context else response
    rule = FrequencyRule.objects.get()
    assert (rule.window, rule.version) == (7 * DAY, 1)

    form = rule_form(window="12:00:00", **{"versions-TOTAL_FORMS": "1", "versions-INITIAL_FORMS": "1"})
    form["versions-0-id"] = str(rule.versions.get().pk)
    form["versions-0-rule"] = str(rule.pk)
    response = lead_client.post(reverse("admin:surveys_frequencyrule_change", args=[rule.pk]), form)

    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.window, rule.version) == (dt.timedelta(hours=12), 2)
    assert [(number, snapshot["window_seconds"]) for number, snapshot in versions(rule)] == [
        (1, 7 * 86400),
        (2, 12 * 3600),
    ]
    assert FrequencyRuleVersion.objects.get(rule=rule, version=2).changed_by == lead


def test_department_owners_see_rules_read_only_in_the_admin(alice_client, rule):
    page = alice_client.get(reverse("admin:surveys_frequencyrule_change", args=[rule.pk]))
    assert page.status_code == 200
    assert b"One survey per 30 days" in page.content
    assert b'name="_save"' not in page.content

    assert alice_client.get(reverse("admin:surveys_frequencyrule_add")).status_code == 403
    posted = alice_client.post(reverse("admin:surveys_frequencyrule_change", args=[rule.pk]), rule_form())
    assert posted.status_code == 403
    rule.refresh_from_db()
    assert (rule.version, rule.window) == (1, 30 * DAY)


def test_the_deactivate_action_writes_a_version(lead_client, rule):
    response = lead_client.post(
        reverse("admin:surveys_frequencyrule_changelist"),
        {"action": "deactivate", "_selected_action": [rule.pk]},
    )

    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.is_active, rule.version) == (False, 2)


# API


def test_api_keys_read_rules_but_never_write_them(support_api, rule):
    listed = support_api.get("/api/v1/frequency-rules")
    assert listed.status_code == 200
    assert [(item["name"], item["window"]) for item in listed.json()["results"]] == [
        ("One survey per 30 days", "P30DT00H00M00S")
    ]

    created = support_api.post(
        "/api/v1/frequency-rules", {"name": "Mine", "max_touches": 5, "window": "P1D"}, format="json"
    )
    changed = support_api.patch(f"/api/v1/frequency-rules/{rule.pk}", {"max_touches": 5}, format="json")
    stopped = support_api.post(f"/api/v1/frequency-rules/{rule.pk}/deactivate")

    for response in (created, changed, stopped):
        assert response.status_code == 403
        assert response.json()["code"] == "rule_change_forbidden"
    rule.refresh_from_db()
    assert (rule.version, rule.max_touches, rule.is_active) == (1, 1, True)


def test_a_cx_lead_writes_rules_through_the_api(lead_api, support):
    created = lead_api.post(
        "/api/v1/frequency-rules",
        {
            "name": "SMS: twice a day",
            "max_touches": 2,
            "window": "PT24H",
            "scope_channel": "sms",
            "scope_department": "support",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    rule_id = created.json()["id"]
    assert created.json()["versions"][0]["version"] == 1

    changed = lead_api.patch(f"/api/v1/frequency-rules/{rule_id}", {"window": "PT12H"}, format="json")

    assert changed.status_code == 200
    body = changed.json()
    assert (body["version"], body["window"], body["scope_department"]) == (2, "P0DT12H00M00S", "support")
    assert [version["version"] for version in body["versions"]] == [2, 1]
    assert body["versions"][0]["changed_by"] == "lead"


def test_rule_api_errors(lead_api, support_api, rule):
    missing = support_api.get("/api/v1/frequency-rules/999999")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    bad = lead_api.post(
        "/api/v1/frequency-rules", {"name": "x", "max_touches": 0, "window": "P1D"}, format="json"
    )
    assert (bad.status_code, bad.json()["code"], bad.json()["extra"]) == (
        400,
        "invalid_frequency_rule",
        {"field": "max_touches"},
    )
    unparsable = lead_api.post(
        "/api/v1/frequency-rules", {"name": "x", "max_touches": 1, "window": "soon"}, format="json"
    )
    assert unparsable.status_code == 400
    assert set(unparsable.json()) == {"code", "message", "extra"}
    assert "window" in unparsable.json()["extra"]["fields"]
    assert support_api.delete(f"/api/v1/frequency-rules/{rule.pk}").status_code == 405
    assert support_api.get(f"/api/v1/frequency-rules/{rule.pk}/deactivate").status_code == 405


def test_owners_see_company_wide_rules_and_their_own_departments_not_anothers(
    alice_client, mallory_client, lead_client, rule, support
):
    support_rule = FrequencyRule.objects.create(
        name="Support's repair follow-ups", max_touches=1, window=7 * DAY, scope_department=support
    )
    changelist = reverse("admin:surveys_frequencyrule_changelist")

    assert set(alice_client.get(changelist).context["cl"].result_list) == {rule, support_rule}
    assert list(mallory_client.get(changelist).context["cl"].result_list) == [rule]
    assert b"repair" not in mallory_client.get(changelist).content
    assert (
        mallory_client.get(reverse("admin:surveys_frequencyrule_change", args=[support_rule.pk])).status_code
        == 404
    )
    assert mallory_client.get(changelist, {"scope_department": support.pk}).status_code == 404
    assert set(lead_client.get(changelist).context["cl"].result_list) == {rule, support_rule}
