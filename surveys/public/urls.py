"""The customer's pages and the providers' webhooks, mounted at the site root (cxfeedback/urls.py).
Paths and names of the personal links come from surveys/delivery/links.py, which delivery writes
links with."""

from django.conf import settings
from django.urls import include, path

from surveys.delivery import links
from surveys.public import views, webhooks

urlpatterns = [
    path(links.SURVEY_PATH, views.survey, name=links.SURVEY_URL_NAME),
    path(links.SURVEY_PATH + "/thanks", views.survey_thanks, name="survey-thanks"),
    path(links.SHORT_PATH, views.survey, name=links.SHORT_URL_NAME),
    path(links.UNSUBSCRIBE_PATH, views.unsubscribe, name=links.UNSUBSCRIBE_URL_NAME),
    path(links.PREFERENCES_PATH, views.preferences, name=links.PREFERENCES_URL_NAME),
]
# The providers' webhooks that are on (PROVIDER_WEBHOOKS): one that is off is not there at all.
if "email" in settings.PROVIDER_WEBHOOKS:
    # Bounces and complaints: django-anymail's webhook for each provider (e.g. postmark/tracking/),
    # announced through its tracking signal, which surveys/apps.py connects to surveys/public/webhooks.py.
    urlpatterns.append(path("webhooks/anymail/", include("anymail.urls")))
if "sms" in settings.PROVIDER_WEBHOOKS:
    urlpatterns.append(path("webhooks/sms/inbound", webhooks.sms_inbound, name="webhook-sms-inbound"))
if "twilio" in settings.PROVIDER_WEBHOOKS:
    # Twilio's incoming-message webhook: give Twilio the number's URL as SITE_URL + this path.
    urlpatterns.append(
        path("webhooks/sms/twilio", webhooks.sms_inbound_twilio, name="webhook-sms-inbound-twilio")
    )
