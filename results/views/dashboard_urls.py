from django.contrib import admin
from django.urls import path

from results.views.dashboard import dashboard

urlpatterns = [
    # admin_view: the admin's login page and its staff-only rule.
    path("", admin.site.admin_view(dashboard), name="dashboard"),
]
