"""The surveys app's models, one module per context: design (surveys, questions), gatekeeper
(frequency rules, send requests, audiences, decisions), delivery (invitations, tokens) and responses.
Import them from here."""

from surveys.models.approvals import APPROVAL_COMMENT_MAX_LENGTH, Approval, TriggerDay
from surveys.models.audience_uploads import AudienceUpload
from surveys.models.blackouts import DEFAULT_BLACKOUT_TAIL, Blackout, BlackoutKind
from surveys.models.delivery import Invitation, InvitationToken
from surveys.models.design import (
    FIXED_SCALES,
    SCALE_KINDS,
    Question,
    QuestionKind,
    Survey,
    SurveyKind,
    burden_estimate,
)
from surveys.models.external import ExternalSurvey, ExternalTouch, TouchImport
from surveys.models.gatekeeper import (
    HOT_FOREIGN_KEY,
    PURPOSE_MAX_LENGTH,
    RULE_EDITABLE_FIELDS,
    AudienceMember,
    Decision,
    FrequencyRule,
    FrequencyRuleVersion,
    Reason,
    RuleClock,
    RuleCounts,
    SendRequest,
)
from surveys.models.overrides import OVERRIDE_REASON_MAX_LENGTH, Override
from surveys.models.responses import Answer, Response
from surveys.models.simulation import DraftRule, RuleDraft, RuleSimulation
from surveys.models.translations import SurveyTranslation

__all__ = [
    "APPROVAL_COMMENT_MAX_LENGTH",
    "DEFAULT_BLACKOUT_TAIL",
    "FIXED_SCALES",
    "HOT_FOREIGN_KEY",
    "OVERRIDE_REASON_MAX_LENGTH",
    "PURPOSE_MAX_LENGTH",
    "RULE_EDITABLE_FIELDS",
    "SCALE_KINDS",
    "Answer",
    "Approval",
    "AudienceMember",
    "AudienceUpload",
    "Blackout",
    "BlackoutKind",
    "Decision",
    "DraftRule",
    "ExternalSurvey",
    "ExternalTouch",
    "FrequencyRule",
    "FrequencyRuleVersion",
    "Invitation",
    "InvitationToken",
    "Override",
    "Question",
    "QuestionKind",
    "Reason",
    "Response",
    "RuleClock",
    "RuleCounts",
    "RuleDraft",
    "RuleSimulation",
    "SendRequest",
    "Survey",
    "SurveyKind",
    "SurveyTranslation",
    "TouchImport",
    "TriggerDay",
    "burden_estimate",
]
