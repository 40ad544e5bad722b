"""The surveys app's models, one module per context: design (surveys, questions), gatekeeper
(frequency rules, send requests, audiences, decisions), delivery (invitations, tokens) and responses.
Import them from here."""

from surveys.models.delivery import Invitation, InvitationToken
from surveys.models.design import FIXED_SCALES, SCALE_KINDS, Question, QuestionKind, Survey, SurveyKind
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
    SendRequest,
)
from surveys.models.responses import Answer, Response

__all__ = [
    "FIXED_SCALES",
    "HOT_FOREIGN_KEY",
    "PURPOSE_MAX_LENGTH",
    "RULE_EDITABLE_FIELDS",
    "SCALE_KINDS",
    "Answer",
    "AudienceMember",
    "Decision",
    "FrequencyRule",
    "FrequencyRuleVersion",
    "Invitation",
    "InvitationToken",
    "Question",
    "QuestionKind",
    "Reason",
    "Response",
    "RuleClock",
    "SendRequest",
    "Survey",
    "SurveyKind",
]
