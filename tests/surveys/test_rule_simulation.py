"""Rule drafts and simulations (issue 15, item 4): a CX lead tries a rule change on the last days'
decisions before publishing it.

The promise tested first: what the simulation says a draft would decide is what screening decides
once the draft is published — the same audience, the same touch history, the same moment's rules.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.urls import reverse
from django.utils import timezone

from departments.actors import actor_for_user
from surveys.errors import DraftOutdated
from surveys.gatekeeper import simulations
from surveys.gatekeeper.rule_drafts import (
    draft_compare,
    draft_rule_add,
    draft_rule_update,
    rule_draft_create,
    rule_draft_publish,
)
from surveys.gatekeeper.send_requests import send_request_cancel, send_request_screen
from surveys.gatekeeper.simulations import rule_simulation_create, rule_simulation_run
from surveys.models import Decision, FrequencyRule, Invitation, RuleDraft, RuleSimulation, SendRequest
from surveys.tasks import run_rule_simulation_task
from tests import factories

DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def one_batch_at_a_time(monkeypatch):
    """Batches side by side use connections of their own, which cannot see a test's transaction:
    one at a time here, except where a test commits its data (transactional_db)."""
    monkeypatch.setattr(simulations, "WORKERS", 1)


DRAFTS = "/api/v1/rule-drafts"
SIMULATIONS = "/api/v1/rule-simulations"


def _touch(contact, survey, at: dt.datetime, *, answered: bool = False) -> Invitation:
    """A past invitation of `survey` (its own completed request): a counted touch at `at`."""
    request = factories.SendRequestFactory(department=survey.department, survey=survey, status="completed")
    return Invitation.objects.create(
        send_request=request,
        survey=survey,
        survey_family_id=survey.family_id,
        department=survey.department,
        survey_kind=survey.kind,
        contact=contact,
        channel="email",
        status="answered" if answered else "expired",
        touched_at=at,
        responded_at=at + DAY if answered else None,
    )


@pytest.fixture
def history(support, marketing):
    """Twelve contacts support knows; contact i has i % 3 touches in the last 20 days (marketing's
    and support's), then support screens a request to all of them under "two per 30 days"."""
    now = timezone.now()
    rule = factories.FrequencyRuleFactory(name="Two per 30 days", max_touches=2, window=dt.timedelta(days=30))
    other = factories.SurveyFactory(department=marketing, name="Marketing pulse")
    earlier = factories.SurveyFactory(department=support, name="Support earlier")
    contacts = [factories.known_contact(support, email=f"c{i}@example.com") for i in range(12)]
    for i, contact in enumerate(contacts):
        for k in range(i % 3):
            _touch(contact, other if k == 0 else earlier, now - (5 + 7 * k) * DAY, answered=k == 0)
    request = factories.SendRequestFactory(
        department=support, status="submitted", survey__name="Support CSAT"
    )
    send_request_screen(send_request_id=request.pk, now=now)
    return {"rule": rule, "request": request, "contacts": contacts, "now": now}


def _simulate(lead, draft, *, now=None) -> RuleSimulation:
    simulation = rule_simulation_create(actor=actor_for_user(lead), draft=draft, now=now or timezone.now())
    rule_simulation_run(simulation_id=simulation.pk)
    simulation.refresh_from_db()
    return simulation


def _survey_row(simulation: RuleSimulation, survey_name: str) -> dict:
    return next(
        survey
        for department in simulation.report["departments"]
        for survey in department["surveys"]
        if survey["name"] == survey_name
    )


def _screen_again(request: SendRequest, *, actor) -> SendRequest:
    """Cancel `request` (its invitations stop counting) and screen the same audience anew."""
    request.refresh_from_db()
    send_request_cancel(send_request=request, actor=actor)
    again = factories.SendRequestFactory(
        department=request.department, survey=request.survey, status="submitted"
    )
    send_request_screen(send_request_id=again.pk, now=timezone.now())
    return again


@pytest.mark.parametrize(
    ("changes", "changed"),
    [
        # Stricter: one touch is enough.
        ({"max_touches": 1}, {"allowed_to_blocked": 4, "blocked_to_allowed": 0}),
        # Looser: two touches are allowed.
        ({"max_touches": 3}, {"allowed_to_blocked": 0, "blocked_to_allowed": 4}),
        # Shorter: the older touch (12 days ago) drops out of the window.
        ({"window": dt.timedelta(days=10)}, {"allowed_to_blocked": 0, "blocked_to_allowed": 4}),
        # By response: one answered touch blocks, the unanswered ones no longer count.
        ({"max_touches": 1, "clock": "response"}, {"allowed_to_blocked": 4, "blocked_to_allowed": 0}),
        # A new contact's grace: support has known every contact for less than a day.
        ({"new_contact_grace": dt.timedelta(days=30)}, {"allowed_to_blocked": 8, "blocked_to_allowed": 0}),
    ],
)
def test_simulation_agrees_with_screening_under_the_published_rules(lead, history, changes, changed):
    actor = actor_for_user(lead)
    before = Decision.objects.filter(send_request=history["request"])
    assert before.filter(allowed=True).count() == 8  # contacts with two touches are blocked now

    draft = rule_draft_create(actor=actor, name="Try", copy_of=history["rule"])
    draft_rule_update(actor=actor, draft_rule=draft.rules.get(), **changes)
    simulation = _simulate(lead, draft)
    row = _survey_row(simulation, "Support CSAT")
    assert {key: row[key] for key in changed} == changed
    assert (row["decisions"], row["allowed_before"]) == (12, 8)

    rule_draft_publish(actor=actor, draft=draft)
    again = _screen_again(history["request"], actor=actor)
    assert Decision.objects.filter(send_request=again, allowed=True).count() == row["allowed_after"]
    assert FrequencyRule.objects.get().version == 2


def test_new_rules_and_rules_switched_off_are_simulated_as_published(lead, history, support):
    actor = actor_for_user(lead)
    draft = rule_draft_create(actor=actor, name="Swap", copy_of=history["rule"])
    draft_rule_update(actor=actor, draft_rule=draft.rules.get(), is_active=False)
    draft_rule_add(
        actor=actor,
        draft=draft,
        name="Support only, one per 30 days",
        max_touches=1,
        window=dt.timedelta(days=30),
        scope_department=support,
    )
    simulation = _simulate(lead, draft)
    row = _survey_row(simulation, "Support CSAT")
    # Support's own touches only: contacts 2, 5, 8 and 11 have one (and a marketing one, no longer counted).
    assert (row["allowed_to_blocked"], row["blocked_to_allowed"], row["allowed_after"]) == (0, 0, 8)

    rule_draft_publish(actor=actor, draft=draft)
    again = _screen_again(history["request"], actor=actor)
    assert Decision.objects.filter(send_request=again, allowed=True).count() == row["allowed_after"]
    assert FrequencyRule.objects.filter(is_active=True).get().name == "Support only, one per 30 days"


def test_the_report_gives_touches_per_contact_and_surveys_below_a_useful_sample(lead, history):
    actor = actor_for_user(lead)
    draft = rule_draft_create(actor=actor, name="Strict", copy_of=history["rule"])
    draft_rule_update(actor=actor, draft_rule=draft.rules.get(), max_touches=1)
    report = _simulate(lead, draft).report

    # Twelve contacts, one decision each in the period: eight touched before, four after.
    assert report["touches_per_contact"]["before"] == {"0": 4, "1": 8, "2": 0, "3": 0, "4": 0, "5+": 0}
    assert report["touches_per_contact"]["after"] == {"0": 8, "1": 4, "2": 0, "3": 0, "4": 0, "5+": 0}
    (support,) = report["departments"]
    assert (support["name"], support["decisions"], support["allowed_to_blocked"]) == ("Support", 12, 4)
    assert support["surveys"][0]["below_useful_sample"] is True  # no answers at all yet
    assert report["falls_below_useful_sample"] == []  # it never had 30


def test_a_survey_that_had_a_useful_sample_is_named_when_it_would_lose_it(db):
    sums = {"surveys": {"1:2": [100, 80, 20, 60, 0, 40]}}  # 40 answers from 80 sent; 20 would be sent
    report = simulations.report_assemble(sums)
    (fallen,) = report["falls_below_useful_sample"]
    assert (fallen["answers_before"], fallen["expected_answers_after"]) == (40, 10)


def test_progress_is_stored_batch_by_batch_and_a_dead_worker_is_resumed(lead, history, monkeypatch):
    actor = actor_for_user(lead)
    draft = rule_draft_create(actor=actor, name="Strict", copy_of=history["rule"])
    draft_rule_update(actor=actor, draft_rule=draft.rules.get(), max_touches=1)
    whole = _simulate(lead, draft)
    assert (whole.state, whole.done, whole.total, len(whole.batch_bounds)) == ("done", 12, 12, 1)

    monkeypatch.setattr(simulations, "BATCH_DECISIONS", 5)
    simulation = rule_simulation_create(actor=actor, draft=draft)
    assert (simulation.state, simulation.percent) == ("queued", 0)
    real_batch = simulations._batch_run
    calls = []

    def dies_in_second_batch(simulation, rules, index):
        calls.append(index)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the worker is killed: nothing catches it
        real_batch(simulation, rules, index)

    monkeypatch.setattr(simulations, "_batch_run", dies_in_second_batch)
    with pytest.raises(KeyboardInterrupt):
        rule_simulation_run(simulation_id=simulation.pk)
    simulation.refresh_from_db()
    assert (simulation.state, simulation.batches_done, len(simulation.batch_bounds)) == ("running", 1, 3)
    assert 0 < simulation.done < simulation.total == 12 and 0 < simulation.percent < 100

    # Another worker may not take it while its heartbeat is fresh; once it is stale, it carries on.
    assert rule_simulation_run(simulation_id=simulation.pk) is None
    later = timezone.now() + simulations.STALE_AFTER + DAY
    queued = []
    monkeypatch.setattr(run_rule_simulation_task, "delay", queued.append)
    assert simulations.rule_simulations_resume_stuck(now=later) == [simulation.pk] == queued
    rule_simulation_run(simulation_id=simulation.pk, now=later)
    simulation.refresh_from_db()
    assert (simulation.state, simulation.done, simulation.percent) == ("done", 12, 100)
    assert simulation.report == whole.report
    assert calls == [0, 1, 1, 2]


@pytest.mark.django_db(transaction=True)
def test_batches_replayed_side_by_side_add_up_to_the_same_report(lead, history, monkeypatch):
    actor = actor_for_user(lead)
    draft = rule_draft_create(actor=actor, name="Strict", copy_of=history["rule"])
    draft_rule_update(actor=actor, draft_rule=draft.rules.get(), max_touches=1)
    monkeypatch.setattr(simulations, "BATCH_DECISIONS", 3)
    one_by_one = _simulate(lead, draft)
    monkeypatch.setattr(simulations, "WORKERS", 2)
    side_by_side = _simulate(lead, draft)

    assert len(side_by_side.batch_bounds) == 4
    assert (side_by_side.done, side_by_side.batches_done) == (12, 4)
    assert side_by_side.report == one_by_one.report
    assert side_by_side.report["allowed_to_blocked"] == 4


def test_a_failed_simulation_says_why(lead, history, monkeypatch):
    actor = actor_for_user(lead)
    draft = rule_draft_create(actor=actor, name="Broken", copy_of=history["rule"])
    monkeypatch.setattr(simulations, "replay_statement", lambda rules, params: "SELECT no_such_column")
    simulation = rule_simulation_create(actor=actor, draft=draft)
    with pytest.raises(Exception):  # noqa: B017 — the task's log keeps the traceback
        rule_simulation_run(simulation_id=simulation.pk)
    simulation.refresh_from_db()
    assert simulation.state == "failed" and "no_such_column" in simulation.error


def test_drafts_change_nothing_live_and_a_rule_changed_since_blocks_publishing(lead, history):
    actor = actor_for_user(lead)
    rule = history["rule"]
    draft = rule_draft_create(actor=actor, name="Later", copy_of=rule)
    draft_rule_update(actor=actor, draft_rule=draft.rules.get(), window=dt.timedelta(days=45))
    rule.refresh_from_db()
    assert (rule.window, rule.version) == (dt.timedelta(days=30), 1)
    ((_draft_rule, changes),) = draft_compare(draft)
    assert [(c.field, c.live, c.draft) for c in changes] == [
        ("window", dt.timedelta(days=30), dt.timedelta(days=45))
    ]

    from surveys.gatekeeper.frequency_rules import frequency_rule_update

    frequency_rule_update(actor=actor, rule=rule, max_touches=3)
    with pytest.raises(DraftOutdated):
        rule_draft_publish(actor=actor, draft=draft)
    rule.refresh_from_db()
    assert (rule.window, rule.max_touches, rule.version) == (dt.timedelta(days=30), 3, 2)


# The API and the admin: CX leads only.


def test_a_cx_lead_drafts_simulates_and_publishes_through_the_api(lead_api, lead, history):
    rule = history["rule"]
    created = lead_api.post(DRAFTS, {"name": "Stricter", "copy_of": rule.pk}, format="json")
    assert created.status_code == 201, created.json()
    draft = created.json()
    (copied,) = draft["rules"]
    changed = lead_api.patch(
        f"{DRAFTS}/{draft['id']}/rules/{copied['id']}", {"max_touches": 1}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["max_touches"] == 1
    assert lead_api.get(f"{DRAFTS}/{draft['id']}").json()["changes"][0]["changes"] == [
        {"field": "max_touches", "live": "2", "draft": "1"}
    ]

    started = lead_api.post(f"{DRAFTS}/{draft['id']}/simulations", {"days": 30}, format="json")
    assert started.status_code == 202 and started.json()["state"] == "queued"
    rule_simulation_run(simulation_id=started.json()["id"])
    read = lead_api.get(f"{SIMULATIONS}/{started.json()['id']}").json()
    assert (read["state"], read["done"], read["total"], read["report"]["allowed_to_blocked"]) == (
        "done",
        12,
        12,
        4,
    )

    published = lead_api.post(f"{DRAFTS}/{draft['id']}/publish")
    assert published.status_code == 200 and published.json()["status"] == "published"
    rule.refresh_from_db()
    assert (rule.max_touches, rule.version) == (1, 2)
    again = lead_api.post(f"{DRAFTS}/{draft['id']}/publish")
    assert again.status_code == 409 and again.json()["code"] == "draft_closed"


def test_a_worker_runs_a_simulation_started_through_the_api(history, lead_api, celery_worker):
    draft = lead_api.post(DRAFTS, {"name": "Stricter", "copy_of": history["rule"].pk}, format="json").json()
    lead_api.patch(
        f"{DRAFTS}/{draft['id']}/rules/{draft['rules'][0]['id']}", {"max_touches": 1}, format="json"
    )

    started = lead_api.post(f"{DRAFTS}/{draft['id']}/simulations", {}, format="json")
    assert started.status_code == 202 and started.json()["days"] == 90
    deadline = time.monotonic() + 60
    while (simulation := lead_api.get(f"{SIMULATIONS}/{started.json()['id']}").json())["state"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, simulation
        time.sleep(0.1)
    assert (simulation["state"], simulation["percent"], simulation["report"]["allowed_to_blocked"]) == (
        "done",
        100,
        4,
    )


def test_bad_input_and_missing_drafts(lead_api, history):
    bad = lead_api.post(DRAFTS, {"name": ""}, format="json")
    assert bad.status_code == 400 and set(bad.json()) >= {"code", "message"}
    draft = lead_api.post(DRAFTS, {"name": "Empty"}, format="json").json()
    negative = lead_api.post(
        f"{DRAFTS}/{draft['id']}/rules",
        {"name": "x", "max_touches": 1, "window": "-1 00:00:00"},
        format="json",
    )
    assert negative.status_code == 400 and "window" in negative.json()["message"]
    days = lead_api.post(f"{DRAFTS}/{draft['id']}/simulations", {"days": 0}, format="json")
    assert days.status_code == 400
    assert lead_api.get(f"{DRAFTS}/999999").status_code == 404
    assert lead_api.get(f"{SIMULATIONS}/999999").status_code == 404
    assert lead_api.delete(f"{DRAFTS}/{draft['id']}/publish").status_code == 405
    discarded = lead_api.post(f"{DRAFTS}/{draft['id']}/discard")
    assert discarded.status_code == 200 and discarded.json()["status"] == "discarded"


def test_departments_cannot_reach_drafts_or_simulations(
    support_api, marketing_api, alice_client, lead, history
):
    actor = actor_for_user(lead)
    draft = rule_draft_create(actor=actor, name="Secret plan", copy_of=history["rule"])
    simulation = _simulate(lead, draft)
    for client in (support_api, marketing_api):
        assert client.get(DRAFTS).status_code == 403
        assert client.post(DRAFTS, {"name": "Mine"}, format="json").status_code == 403
        # A draft or a simulation is answered as one that does not exist.
        for method, url in (
            ("get", f"{DRAFTS}/{draft.pk}"),
            ("post", f"{DRAFTS}/{draft.pk}/publish"),
            ("post", f"{DRAFTS}/{draft.pk}/discard"),
            ("post", f"{DRAFTS}/{draft.pk}/simulations"),
            ("post", f"{DRAFTS}/{draft.pk}/rules"),
            ("patch", f"{DRAFTS}/{draft.pk}/rules/{draft.rules.get().pk}"),
            ("get", f"{SIMULATIONS}/{simulation.pk}"),
        ):
            response = getattr(client, method)(url, {"max_touches": 9}, format="json")
            assert response.status_code == 404 and response.json() == getattr(client, method)(
                url.replace(str(draft.pk), "999999").replace(str(simulation.pk), "999999"),
                {"max_touches": 9},
                format="json",
            ).json() | {"message": response.json()["message"]}
    draft.refresh_from_db()
    assert (draft.status, draft.rules.get().max_touches, draft.simulations.count()) == ("open", 2, 1)

    for url in (
        reverse("admin:surveys_ruledraft_changelist"),
        reverse("admin:surveys_ruledraft_change", args=[draft.pk]),
        reverse("admin:surveys_rulesimulation_change", args=[simulation.pk]),
    ):
        response = alice_client.get(url)
        assert response.status_code in (302, 403, 404) and "Support CSAT" not in response.content.decode()
    for action in ("simulate", "publish", "discard"):
        url = reverse(f"admin:surveys_ruledraft_{action}", args=[draft.pk])
        assert alice_client.post(url, {"days": "90"}).status_code == 404


def test_a_cx_lead_works_a_draft_in_the_admin(lead_client, history):
    rule = history["rule"]
    copied = lead_client.post(
        reverse("admin:surveys_frequencyrule_changelist"),
        {"action": "copy_to_draft", "_selected_action": [rule.pk]},
    )
    assert copied.status_code == 302
    draft = RuleDraft.objects.get()
    url = reverse("admin:surveys_ruledraft_change", args=[draft.pk])
    page = lead_client.get(url)
    assert page.status_code == 200 and "Two per 30 days" in page.content.decode()

    copy = draft.rules.get()
    inline = {
        "rules-TOTAL_FORMS": "1", "rules-INITIAL_FORMS": "1", "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000", "rules-0-id": str(copy.pk), "rules-0-draft": str(draft.pk),
        "rules-0-name": copy.name, "rules-0-is_active": "on", "rules-0-max_touches": "1",
        "rules-0-window": "45 00:00:00", "rules-0-scope_department": "", "rules-0-scope_survey_kind": "",
        "rules-0-scope_channel": "", "rules-0-clock": "invitation", "rules-0-new_contact_grace": "",
    }  # fmt: skip
    refused = lead_client.post(url, {**inline, "rules-0-window": "-1 00:00:00"})
    assert refused.status_code == 200 and "must be longer than zero" in refused.content.decode()
    saved = lead_client.post(url, inline)
    assert saved.status_code == 302, saved.context["errors"] if saved.context else saved
    copy.refresh_from_db()
    rule.refresh_from_db()
    assert (copy.max_touches, copy.window, rule.max_touches, rule.version) == (1, dt.timedelta(days=45), 2, 1)
    compared = lead_client.get(url).content.decode()
    assert "max touches: 2 → 1" in compared and "window: 30 days → 45 days" in compared

    started = lead_client.post(reverse("admin:surveys_ruledraft_simulate", args=[draft.pk]), {"days": "90"})
    simulation = RuleSimulation.objects.get()
    assert started.status_code == 302 and started["Location"].endswith(
        reverse("admin:surveys_rulesimulation_change", args=[simulation.pk])
    )
    waiting = lead_client.get(started["Location"]).content.decode()
    assert "Queued" in waiting and 'http-equiv="refresh"' in waiting
    rule_simulation_run(simulation_id=simulation.pk)
    done = lead_client.get(started["Location"]).content.decode()
    assert "Support CSAT" in done and 'http-equiv="refresh"' not in done

    published = lead_client.post(reverse("admin:surveys_ruledraft_publish", args=[draft.pk]))
    assert published.status_code == 302
    draft.refresh_from_db()
    assert draft.status == "published"
