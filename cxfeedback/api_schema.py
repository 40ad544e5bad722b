"""drf-spectacular's settings: how the OpenAPI schema at /api/schema/ describes the API."""

SPECTACULAR_SETTINGS = {
    "TITLE": "cxfeedback API",
    "DESCRIPTION": "The single gatekeeper for every customer survey.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the installed sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `kind`; give each enum its model's name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "IdentityKindEnum": "contacts.models.Identity.Kind",
        "ConsentKindEnum": "contacts.models.Consent.Kind",
        "ChannelEnum": "contacts.models.Channel",
        "SurveyKindEnum": "surveys.models.SurveyKind",
        "QuestionKindEnum": "surveys.models.QuestionKind",
        "BlackoutKindEnum": "surveys.models.blackouts.BlackoutKind",
        "RuleDraftStatusEnum": "surveys.models.simulation.RuleDraft.Status",
        "SendRequestStatusEnum": "surveys.models.SendRequest.Status",
        "SendRequestAudienceKindEnum": "surveys.models.SendRequest.AudienceKind",
        # Touch imports and audience uploads: the same states of a background job.
        "JobStatusEnum": "cxfeedback.background_jobs.JobStatus",
    },
}
