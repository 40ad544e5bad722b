from django.urls import path

from surveys.api.triggers import EligibilityApi, TriggerApi

urlpatterns = [
    path("eligibility", EligibilityApi.as_view(), name="eligibility"),
    path("triggers", TriggerApi.as_view(), name="trigger-create"),
]
