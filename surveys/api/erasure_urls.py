from django.urls import path

from surveys.api.erasure import ContactEraseApi

urlpatterns = [
    path("contacts/<int:contact_id>/erase", ContactEraseApi.as_view(), name="contact-erase"),
]
