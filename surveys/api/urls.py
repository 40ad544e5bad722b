"""Every route of the surveys API, one module per resource."""

from django.urls import path

from surveys.api.calendar import SendCalendarApi
from surveys.api.erasure import ContactEraseApi
from surveys.api.frequency_rules import (
    FrequencyRuleCollectionApi,
    FrequencyRuleDeactivateApi,
    FrequencyRuleItemApi,
)
from surveys.api.merges import MergeCollectionApi, MergePreviewApi, MergeProposalApi, UnmergeApi
from surveys.api.send_requests import (
    SendRequestAudienceApi,
    SendRequestCancelApi,
    SendRequestCollectionApi,
    SendRequestDecisionsApi,
    SendRequestDetailApi,
    SendRequestPreflightApi,
    SendRequestSubmitApi,
)
from surveys.api.surveys import SurveyCollectionApi, SurveyFromTemplateApi, SurveyItemApi
from surveys.api.triggers import EligibilityApi, TriggerApi

urlpatterns = [
    path("contacts/merges", MergeCollectionApi.as_view(), name="contact-merge-list"),
    path("contacts/merges/preview", MergePreviewApi.as_view(), name="contact-merge-preview"),
    path("contacts/merges/<int:merge_id>/unmerge", UnmergeApi.as_view(), name="contact-unmerge"),
    path("contacts/merge-proposals", MergeProposalApi.as_view(), name="contact-merge-proposal"),
    path("surveys", SurveyCollectionApi.as_view(), name="survey-list"),
    path("surveys/from-template", SurveyFromTemplateApi.as_view(), name="survey-from-template"),
    path("surveys/<int:survey_id>", SurveyItemApi.as_view(), name="survey-detail"),
    path("frequency-rules", FrequencyRuleCollectionApi.as_view(), name="frequency-rule-list"),
    path("frequency-rules/<int:rule_id>", FrequencyRuleItemApi.as_view(), name="frequency-rule-detail"),
    path(
        "frequency-rules/<int:rule_id>/deactivate",
        FrequencyRuleDeactivateApi.as_view(),
        name="frequency-rule-deactivate",
    ),
    path("send-requests", SendRequestCollectionApi.as_view(), name="send-request-list"),
    path(
        "send-requests/<uuid:send_request_id>",
        SendRequestDetailApi.as_view(),
        name="send-request-detail",
    ),
    path(
        "send-requests/<uuid:send_request_id>/preflight",
        SendRequestPreflightApi.as_view(),
        name="send-request-preflight",
    ),
    path(
        "send-requests/<uuid:send_request_id>/submit",
        SendRequestSubmitApi.as_view(),
        name="send-request-submit",
    ),
    path(
        "send-requests/<uuid:send_request_id>/cancel",
        SendRequestCancelApi.as_view(),
        name="send-request-cancel",
    ),
    path(
        "send-requests/<uuid:send_request_id>/audience",
        SendRequestAudienceApi.as_view(),
        name="send-request-audience",
    ),
    path(
        "send-requests/<uuid:send_request_id>/decisions",
        SendRequestDecisionsApi.as_view(),
        name="send-request-decisions",
    ),
    path("calendar", SendCalendarApi.as_view(), name="send-calendar"),
    path("eligibility", EligibilityApi.as_view(), name="eligibility"),
    path("triggers", TriggerApi.as_view(), name="trigger-create"),
    path("contacts/<uuid:contact_id>/erase", ContactEraseApi.as_view(), name="contact-erase"),
]
