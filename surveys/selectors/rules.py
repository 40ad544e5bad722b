"""Reading frequency rules for the gatekeeper."""

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
