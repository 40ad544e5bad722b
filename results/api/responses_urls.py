from django.urls import path

from results.api.responses import ResponseListApi

urlpatterns = [
    path("results/responses", ResponseListApi.as_view(), name="results-response-list"),
]
