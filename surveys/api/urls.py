from django.urls import path

from surveys.api import views

urlpatterns = [
    path("surveys", views.SurveyCollectionApi.as_view(), name="survey-list"),
    path("surveys/from-template", views.SurveyFromTemplateApi.as_view(), name="survey-from-template"),
    path("surveys/<int:survey_id>", views.SurveyItemApi.as_view(), name="survey-detail"),
    path("frequency-rules", views.FrequencyRuleCollectionApi.as_view(), name="frequency-rule-list"),
    path("frequency-rules/<int:rule_id>", views.FrequencyRuleItemApi.as_view(), name="frequency-rule-detail"),
    path(
        "frequency-rules/<int:rule_id>/deactivate",
        views.FrequencyRuleDeactivateApi.as_view(),
        name="frequency-rule-deactivate",
    ),
    path("send-requests", views.SendRequestCollectionApi.as_view(), name="send-request-list"),
    path(
        "send-requests/<int:send_request_id>",
        views.SendRequestDetailApi.as_view(),
        name="send-request-detail",
    ),
    path(
        "send-requests/<int:send_request_id>/preflight",
        views.SendRequestPreflightApi.as_view(),
        name="send-request-preflight",
    ),
    path(
        "send-requests/<int:send_request_id>/submit",
        views.SendRequestSubmitApi.as_view(),
        name="send-request-submit",
    ),
    path(
        "send-requests/<int:send_request_id>/cancel",
        views.SendRequestCancelApi.as_view(),
        name="send-request-cancel",
    ),
    path(
        "send-requests/<int:send_request_id>/audience",
        views.SendRequestAudienceApi.as_view(),
        name="send-request-audience",
    ),
    path(
        "send-requests/<int:send_request_id>/decisions",
        views.SendRequestDecisionsApi.as_view(),
        name="send-request-decisions",
    ),
]
