from django.urls import path

from contacts.api.imports import (
    ContactImportApi,
    ContactImportCancelApi,
    ContactImportDetailApi,
    ContactImportResumeApi,
)
from contacts.api.views import ContactCollectionApi, ContactConsentsApi, ContactDetailApi

urlpatterns = [
    path("contacts", ContactCollectionApi.as_view(), name="contact-list"),
    path("contacts/import", ContactImportApi.as_view(), name="contact-import"),
    path("contacts/imports/<int:import_id>", ContactImportDetailApi.as_view(), name="contact-import-detail"),
    path(
        "contacts/imports/<int:import_id>/cancel",
        ContactImportCancelApi.as_view(),
        name="contact-import-cancel",
    ),
    path(
        "contacts/imports/<int:import_id>/resume",
        ContactImportResumeApi.as_view(),
        name="contact-import-resume",
    ),
    path("contacts/<uuid:contact_id>", ContactDetailApi.as_view(), name="contact-detail"),
    path("contacts/<uuid:contact_id>/consents", ContactConsentsApi.as_view(), name="contact-consents"),
]
