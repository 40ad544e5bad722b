"""The project's admin site: Django's, branded "<company name> · cxfeedback" (company settings),
except that an autocomplete answer names each row as its own admin says the user may see it
(`autocomplete_label(request, obj)`), not by `str(obj)`.

A contact's `str()` names no one ("Contact 1a2b3c4d"); contacts/admin/contacts.py names a person
by the user's departments' views. Installed in place of django.contrib.admin (settings.py).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.http import HttpRequest, HttpResponse


class LabelledAutocompleteJsonView(AutocompleteJsonView):
    def serialize_result(self, obj, to_field_name: str) -> dict:
        result = super().serialize_result(obj, to_field_name)
        label = getattr(self.model_admin, "autocomplete_label", None)
        if label is not None:
            result["text"] = label(self.request, obj)
        return result


class AdminSite(admin.AdminSite):
    site_header = "cxfeedback"
    site_title = "cxfeedback"
    index_title = "cxfeedback"

    def each_context(self, request: HttpRequest) -> dict:
        """Every admin page names the company (company settings), then cxfeedback."""
        context = super().each_context(request)
        name = admin_brand()
        context["site_header"] = context["site_title"] = name
        return context

    def autocomplete_view(self, request: HttpRequest) -> HttpResponse:
        return LabelledAutocompleteJsonView.as_view(admin_site=self)(request)


def admin_brand() -> str:
    """ "<company name> · cxfeedback", or "cxfeedback" while the company has no name. Reads only."""
    from departments.models import CompanySettings  # the admin site is built before apps are ready

    company = CompanySettings.objects.filter(pk=1).values_list("company_name", flat=True).first()
    return f"{company.strip()} · cxfeedback" if company and company.strip() else "cxfeedback"


class AdminConfig(DjangoAdminConfig):
    default_site = "cxfeedback.admin_site.AdminSite"
