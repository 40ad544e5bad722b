from django.urls import path

from contacts.api.imports import ContactImportApi
from contacts.api.views import ContactCollectionApi, ContactConsentsApi, ContactDetailApi

urlpatterns = [
    path("contacts", ContactCollectionApi.as_view(), name="contact-list"),
    path("contacts/import", ContactImportApi.as_view(), name="contact-import"),
    path("contacts/<uuid:contact_id>", ContactDetailApi.as_view(), name="contact-detail"),
    path("contacts/<uuid:contact_id>/consents", ContactConsentsApi.as_view(), name="contact-consents"),
]
