from django.urls import path

from results.api.summary import ResultsSummaryApi

urlpatterns = [
    path("results/summary", ResultsSummaryApi.as_view(), name="results-summary"),
]
