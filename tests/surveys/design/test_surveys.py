"""Building surveys: question validation, the built-in templates, freezing and versions."""

import threading

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from cxfeedback.exceptions import NotFound
from departments.actors import Actor, actor_for_user
from surveys.demo import load_demo_surveys
from surveys.design.selectors import survey_get, survey_list
from surveys.design.surveys import survey_create, survey_create_from_template, survey_update
from surveys.errors import InvalidQuestion, InvalidSurvey, SurveyNotCurrent, UnknownSurveyTemplate
from surveys.models import FrequencyRule, Survey
from tests import factories

NPS = {"kind": "nps", "text": "Would you recommend us?"}


def create(actor, department, *questions, **fields):
    return survey_create(
        actor=actor,
        department=department,
        name=fields.pop("name", "After your call"),
        questions=questions,
        **fields,
    )


@pytest.fixture
def alice_actor(alice) -> Actor:
    return actor_for_user(alice)


# Creating, and what a question may be


def test_create_stores_questions_in_order_and_starts_a_family(alice_actor, support):
    survey = create(
        alice_actor,
        support,
        NPS,
        {"kind": "rating", "text": "Rate the wait", "scale_min": 1, "scale_max": 10},
        {"kind": "single_choice", "text": "Which channel?", "choices": [" Phone ", "Chat"]},
        {"kind": "free_text", "text": "Anything else?", "required": False},
        kind="transactional",
    )

    survey.refresh_from_db()
    assert (survey.family_id, survey.version, survey.is_current, survey.frozen_at) == (
        survey.pk,
        1,
        True,
        None,
    )
    assert survey.kind == "transactional"
    questions = list(survey.questions.order_by("position"))
    assert [(q.position, q.kind) for q in questions] == [
        (1, "nps"),
        (2, "rating"),
        (3, "single_choice"),
        (4, "free_text"),
    ]
    assert questions[0].scale == (0, 10)
    assert questions[1].scale == (1, 10)
    assert questions[2].choices == ["Phone", "Chat"]
    assert questions[3].required is False


@pytest.mark.parametrize(
    ("question", "field", "words"),
    [
        ({"kind": "nps", "text": "Recommend?", "scale_min": 1}, "scale_min", "fixed scale"),
        ({"kind": "csat", "text": "Happy?", "scale_max": 10}, "scale_max", "fixed scale"),
        ({"kind": "rating", "text": "Rate", "scale_min": 5, "scale_max": 5}, "scale_max", "greater than"),
        (
            {"kind": "rating", "text": "Rate", "scale_min": 0, "scale_max": 101},
            "scale_max",
            "between 0 and 100",
        ),
        ({"kind": "rating", "text": "Rate", "scale_min": 1}, "scale_max", "whole number"),
        ({"kind": "single_choice", "text": "Pick", "choices": ["Only one"]}, "choices", "at least two"),
        ({"kind": "multiple_choice", "text": "Pick", "choices": ["A", " a "]}, "choices", "listed twice"),
        ({"kind": "single_choice", "text": "Pick", "choices": ["A", "  "]}, "choices", "cannot be empty"),
        ({"kind": "free_text", "text": "Say", "choices": ["A", "B"]}, "choices", "only a choice question"),
        ({"kind": "free_text", "text": "Say", "scale_max": 5}, "scale_max", "only a rating question"),
        ({"kind": "stars", "text": "Rate"}, "kind", "must be one of"),
        ({"kind": "nps", "text": "   "}, "text", "needs its text"),
    ],
)
def test_invalid_questions_name_their_position_and_field(alice_actor, support, question, field, words):
    with pytest.raises(InvalidQuestion) as error:
        create(alice_actor, support, NPS, question)

    assert error.value.extra == {"question": 2, "field": field}
    assert error.value.message.startswith(f"Question 2, {field}:")
    assert words in error.value.message
    assert not Survey.objects.exists()


def test_a_survey_needs_a_question_and_a_name(alice_actor, support):
    with pytest.raises(InvalidSurvey, match="at least one question"):
        create(alice_actor, support)
    with pytest.raises(InvalidSurvey, match="name"):
        create(alice_actor, support, NPS, name="  ")
    with pytest.raises(InvalidSurvey, match="kind"):
        create(alice_actor, support, NPS, kind="quarterly")


def test_nobody_builds_surveys_for_another_department(mallory, support):
    with pytest.raises(NotFound):
        create(actor_for_user(mallory), support, NPS)


# Templates


@pytest.mark.parametrize(
    ("template", "kind", "question_kind", "scale"),
    [
        ("nps", "relationship", "nps", (0, 10)),
        ("csat", "transactional", "csat", (1, 5)),
        ("ces", "transactional", "ces", (1, 7)),
    ],
)
def test_templates_start_with_the_standard_question(
    alice_actor, support, template, kind, question_kind, scale
):
    survey = survey_create_from_template(actor=alice_actor, department=support, template=template)

    first = survey.questions.order_by("position").first()
    assert survey.kind == kind
    assert (first.kind, first.scale, first.required) == (question_kind, scale, True)
    assert survey.questions.count() == 2


def test_a_template_takes_a_name_and_unknown_templates_are_refused(alice_actor, support):
    survey = survey_create_from_template(actor=alice_actor, department=support, template="nps", name="Q3 NPS")
    assert survey.name == "Q3 NPS"
    with pytest.raises(UnknownSurveyTemplate):
        survey_create_from_template(actor=alice_actor, department=support, template="sus")


# Editing, freezing and versions


def test_editing_an_unsent_survey_changes_it_in_place(alice_actor, support):
    survey = create(alice_actor, support, NPS)

    edited = survey_update(
        actor=alice_actor,
        survey=survey,
        name="Renamed",
        questions=[NPS, {"kind": "free_text", "text": "Why?"}],
    )

    assert edited.pk == survey.pk
    assert Survey.objects.count() == 1
    assert edited.name == "Renamed"
    assert list(edited.questions.order_by("position").values_list("kind", flat=True)) == ["nps", "free_text"]


def test_editing_a_frozen_survey_makes_the_next_version_and_keeps_the_old_one(alice_actor, support):
    survey = create(alice_actor, support, NPS, {"kind": "free_text", "text": "Why?"})
    Survey.objects.filter(pk=survey.pk).update(frozen_at=timezone.now())  # as send_request_submit does
    survey.refresh_from_db()

    new = survey_update(actor=alice_actor, survey=survey, name="After your call, v2")

    survey.refresh_from_db()
    assert new.pk != survey.pk
    assert (new.family_id, new.version, new.is_current, new.frozen_at) == (survey.pk, 2, True, None)
    assert (survey.name, survey.is_current, survey.is_frozen) == ("After your call", False, True)
    # Questions are copied: the old version keeps its own rows for its invitations.
    assert list(new.questions.values_list("kind", "text")) == list(
        survey.questions.values_list("kind", "text")
    )
    assert not set(new.questions.values_list("pk", flat=True)) & set(
        survey.questions.values_list("pk", flat=True)
    )


def test_an_empty_edit_of_a_frozen_survey_makes_no_new_version(alice_actor, support, alice):
    survey = create(alice_actor, support, NPS)
    Survey.objects.filter(pk=survey.pk).update(frozen_at=timezone.now())
    client = APIClient()
    client.force_authenticate(alice)

    response = client.patch(f"/api/v1/surveys/{survey.pk}", {}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["id"] == survey.pk
    assert Survey.objects.filter(family_id=survey.family_id).count() == 1


def test_a_new_version_can_change_the_questions(alice_actor, support):
    survey = create(alice_actor, support, NPS)
    Survey.objects.filter(pk=survey.pk).update(frozen_at=timezone.now())
    survey.refresh_from_db()

    new = survey_update(actor=alice_actor, survey=survey, questions=[{"kind": "csat", "text": "Happy?"}])

    assert list(new.questions.values_list("kind", flat=True)) == ["csat"]
    assert list(survey.questions.values_list("kind", flat=True)) == ["nps"]


def test_only_the_current_version_can_be_edited(alice_actor, support):
    survey = create(alice_actor, support, NPS)
    Survey.objects.filter(pk=survey.pk).update(frozen_at=timezone.now())
    survey.refresh_from_db()
    new = survey_update(actor=alice_actor, survey=survey, name="v2")

    with pytest.raises(SurveyNotCurrent) as error:
        survey_update(actor=alice_actor, survey=survey, name="v2 again")

    assert error.value.extra == {"current_id": new.pk}
    assert Survey.objects.filter(family_id=survey.pk).count() == 2


def test_invalid_edit_of_a_frozen_survey_creates_nothing(alice_actor, support):
    survey = create(alice_actor, support, NPS)
    Survey.objects.filter(pk=survey.pk).update(frozen_at=timezone.now())
    survey.refresh_from_db()

    with pytest.raises(InvalidQuestion):
        survey_update(actor=alice_actor, survey=survey, questions=[{"kind": "rating", "text": "Rate"}])

    assert Survey.objects.count() == 1
    survey.refresh_from_db()
    assert survey.is_current


@pytest.mark.django_db(transaction=True)
def test_two_editors_of_a_frozen_survey_make_one_new_version(support, alice):
    """Without the lock on the current version both would insert version 2 (one fails on the
    constraint, as an error instead of SurveyNotCurrent); repeated so the race is hit."""
    actor = actor_for_user(alice)
    for _ in range(5):
        survey = create(actor, support, NPS)
        Survey.objects.filter(pk=survey.pk).update(frozen_at=timezone.now())
        survey.refresh_from_db()
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def edit(name: str, survey=survey, barrier=barrier, outcomes=outcomes) -> None:
            try:
                barrier.wait()
                survey_update(actor=actor, survey=survey, name=name)
                outcomes.append("new version")
            except SurveyNotCurrent:
                outcomes.append("not current")
            except Exception as error:
                outcomes.append(type(error).__name__)
            finally:
                connection.close()

        threads = [threading.Thread(target=edit, args=(f"editor {n}",)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(outcomes) == ["new version", "not current"]
        versions = Survey.objects.filter(family_id=survey.pk).order_by("version")
        assert list(versions.values_list("version", "is_current")) == [(1, False), (2, True)]


# Reading


def test_owners_list_and_read_only_their_departments_surveys(alice, support, marketing, lead):
    ours = factories.SurveyFactory(department=support)
    theirs = factories.SurveyFactory(department=marketing)

    assert list(survey_list(actor=actor_for_user(alice))) == [ours]
    assert survey_get(actor=actor_for_user(alice), survey_id=ours.pk) == ours
    with pytest.raises(NotFound):
        survey_get(actor=actor_for_user(alice), survey_id=theirs.pk)
    assert set(survey_list(actor=actor_for_user(lead))) == {ours, theirs}


# Demo data


def test_demo_surveys_and_rules_load_once(support, marketing, lead):
    departments = {"support": support, "marketing": marketing}

    assert load_demo_surveys(departments) == 6  # 3 rules, 2 NPS surveys and support's CSAT
    assert load_demo_surveys(departments) == 0

    everyone = FrequencyRule.objects.get(name="One survey per 30 days per person")
    assert (everyone.max_touches, everyone.window.days, everyone.scope_department) == (1, 30, None)
    support_rule = FrequencyRule.objects.get(scope_department=support)
    assert (support_rule.name, support_rule.window.days) == (
        "One survey per 90 days per department (Support)",
        90,
    )
    surveys = {
        survey.name: survey.questions.first().kind for survey in Survey.objects.filter(department=support)
    }
    assert surveys == {"Support NPS": "nps", "Support CSAT": "csat"}
