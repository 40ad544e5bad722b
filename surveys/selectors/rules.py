"""Reading frequency rules for the gatekeeper."""

from django.db.models import QuerySet

from cxfeedback.exceptions import NotFound
from surveys.models import FrequencyRule
from surveys.rules import Rule


def rule_from_model(rule: FrequencyRule) -> Rule:
    return Rule(
        id=rule.pk,
        version=rule.version,
        max_touches=rule.max_touches,
        window=rule.window,
        scope_department_id=rule.scope_department_id,
        scope_survey_kind=rule.scope_survey_kind,
        scope_channel=rule.scope_channel,
        clock=rule.clock,
        new_contact_grace=rule.new_contact_grace,
    )


def rules_active() -> list[Rule]:
    """Every active rule, as the pure policy reads them: all apply together."""
    return [rule_from_model(rule) for rule in FrequencyRule.objects.filter(is_active=True).order_by("pk")]


def frequency_rule_list(*, active: bool | None = None) -> QuerySet[FrequencyRule]:
    """Every rule, for anyone signed in: rules are shared by all departments and no secret."""
    rules = FrequencyRule.objects.select_related("scope_department").order_by("name", "pk")
    return rules if active is None else rules.filter(is_active=active)


def frequency_rule_get(*, rule_id: int) -> FrequencyRule:
    """One rule with its versions, newest first; raises NotFound."""
    rule = (
        FrequencyRule.objects.select_related("scope_department")
        .prefetch_related("versions__changed_by")
        .filter(pk=rule_id)
        .first()
    )
    if rule is None:
        raise NotFound(f"Frequency rule {rule_id} not found.")
    return rule
