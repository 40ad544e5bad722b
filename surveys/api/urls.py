"""Every route of the surveys API, one module per resource."""

from django.urls import path

from surveys.api.approvals import SendRequestApproveApi, SendRequestRejectApi
from surveys.api.audience_uploads import (
    AudienceUploadCancelApi,
    AudienceUploadDetailApi,
    AudienceUploadResumeApi,
    SendRequestAudienceApi,
)
from surveys.api.blackouts import BlackoutCloseApi, BlackoutOpenApi
from surveys.api.blocked_list import SendRequestBlockedListApi
from surveys.api.calendar import SendCalendarApi
from surveys.api.erasure import ContactEraseApi
from surveys.api.external import (
    ReservationCancelApi,
    ReservationCollectionApi,
    ReservationConfirmApi,
    TouchCollectionApi,
)
from surveys.api.external_imports import (
    TouchImportApi,
    TouchImportCancelApi,
    TouchImportDetailApi,
    TouchImportResumeApi,
)
from surveys.api.external_responses import ResponseIngestApi
from surveys.api.frequency_rules import (
    FrequencyRuleCollectionApi,
    FrequencyRuleDeactivateApi,
    FrequencyRuleItemApi,
)
from surveys.api.merges import MergeCollectionApi, MergePreviewApi, MergeProposalApi, UnmergeApi
from surveys.api.overrides import OverrideApproveApi, OverrideCollectionApi
from surveys.api.rule_drafts import (
    DraftRuleCollectionApi,
    DraftRuleItemApi,
    RuleDraftCollectionApi,
    RuleDraftDetailApi,
    RuleDraftDiscardApi,
    RuleDraftPublishApi,
    RuleSimulationDetailApi,
    RuleSimulationStartApi,
)
from surveys.api.send_requests import (
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
    # The calls integrations make all day first: Django tries a URL's patterns in order.
    path("triggers", TriggerApi.as_view(), name="trigger-create"),
    path("eligibility", EligibilityApi.as_view(), name="eligibility"),
    path("blackouts", BlackoutOpenApi.as_view(), name="blackout-open"),
    path("blackouts/<str:external_id>/close", BlackoutCloseApi.as_view(), name="blackout-close"),
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
    path("rule-drafts", RuleDraftCollectionApi.as_view(), name="rule-draft-list"),
    path("rule-drafts/<int:draft_id>", RuleDraftDetailApi.as_view(), name="rule-draft-detail"),
    path("rule-drafts/<int:draft_id>/rules", DraftRuleCollectionApi.as_view(), name="draft-rule-list"),
    path(
        "rule-drafts/<int:draft_id>/rules/<int:draft_rule_id>",
        DraftRuleItemApi.as_view(),
        name="draft-rule-detail",
    ),
    path("rule-drafts/<int:draft_id>/publish", RuleDraftPublishApi.as_view(), name="rule-draft-publish"),
    path("rule-drafts/<int:draft_id>/discard", RuleDraftDiscardApi.as_view(), name="rule-draft-discard"),
    path(
        "rule-drafts/<int:draft_id>/simulations",
        RuleSimulationStartApi.as_view(),
        name="rule-simulation-start",
    ),
    path(
        "rule-simulations/<int:simulation_id>",
        RuleSimulationDetailApi.as_view(),
        name="rule-simulation-detail",
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
        "send-requests/<uuid:send_request_id>/preflight/blocked",
        SendRequestBlockedListApi.as_view(),
        name="send-request-blocked-list",
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
        "send-requests/<uuid:send_request_id>/audience/<uuid:upload_id>",
        AudienceUploadDetailApi.as_view(),
        name="send-request-audience-upload",
    ),
    path(
        "send-requests/<uuid:send_request_id>/audience/<uuid:upload_id>/cancel",
        AudienceUploadCancelApi.as_view(),
        name="send-request-audience-upload-cancel",
    ),
    path(
        "send-requests/<uuid:send_request_id>/audience/<uuid:upload_id>/resume",
        AudienceUploadResumeApi.as_view(),
        name="send-request-audience-upload-resume",
    ),
    path(
        "send-requests/<uuid:send_request_id>/decisions",
        SendRequestDecisionsApi.as_view(),
        name="send-request-decisions",
    ),
    path(
        "send-requests/<uuid:send_request_id>/overrides",
        OverrideCollectionApi.as_view(),
        name="send-request-overrides",
    ),
    path(
        "send-requests/<uuid:send_request_id>/overrides/<int:override_id>/approve",
        OverrideApproveApi.as_view(),
        name="send-request-override-approve",
    ),
    path(
        "send-requests/<uuid:send_request_id>/approve",
        SendRequestApproveApi.as_view(),
        name="send-request-approve",
    ),
    path(
        "send-requests/<uuid:send_request_id>/reject",
        SendRequestRejectApi.as_view(),
        name="send-request-reject",
    ),
    path("calendar", SendCalendarApi.as_view(), name="send-calendar"),
    path("touches", TouchCollectionApi.as_view(), name="external-touch-list"),
    path("touches/reservations", ReservationCollectionApi.as_view(), name="external-reservation-list"),
    path("touches/imports", TouchImportApi.as_view(), name="external-touch-import"),
    path(
        "touches/imports/<uuid:import_id>",
        TouchImportDetailApi.as_view(),
        name="external-touch-import-detail",
    ),
    path(
        "touches/imports/<uuid:import_id>/cancel",
        TouchImportCancelApi.as_view(),
        name="external-touch-import-cancel",
    ),
    path(
        "touches/imports/<uuid:import_id>/resume",
        TouchImportResumeApi.as_view(),
        name="external-touch-import-resume",
    ),
    path(
        "touches/reservations/<uuid:reservation_id>/confirm",
        ReservationConfirmApi.as_view(),
        name="external-reservation-confirm",
    ),
    path(
        "touches/reservations/<uuid:reservation_id>/cancel",
        ReservationCancelApi.as_view(),
        name="external-reservation-cancel",
    ),
    path("responses", ResponseIngestApi.as_view(), name="external-response-ingest"),
    path("contacts/<uuid:contact_id>/erase", ContactEraseApi.as_view(), name="contact-erase"),
]
