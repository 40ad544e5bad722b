"""The providers' webhooks need their secrets.

Every webhook opts people out (surveys/public/webhooks.py): the email provider's (django-anymail,
under /webhooks/anymail/) a complaint out of every survey, the SMS providers' a STOP out of SMS.
Without ANYMAIL_WEBHOOK_SECRET, django-anymail accepts anonymous calls, so anyone could opt anyone
out; without SMS_INBOUND_SECRET (the generic SMS webhook) or TWILIO_AUTH_TOKEN (Twilio's, which signs
with it) every STOP is refused and never honoured. So outside DEBUG the app
does not start with a webhook on (PROVIDER_WEBHOOKS) and its secret missing, as it does not start
without SECRET_KEY (cxfeedback/settings.py), and `manage.py check --deploy` reports the same
(cxfeedback.E002; registered by surveys/apps.py) for settings that start anyway: DEBUG on, or a
settings module that changes ours.

Imported by settings.py: nothing here may read Django's settings at import time.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core import checks

# The names PROVIDER_WEBHOOKS may list; surveys/public/urls.py mounts each one listed.
PROVIDER_WEBHOOKS = ("email", "sms", "twilio")


def webhook_secrets_missing(
    *, webhooks: list[str], anymail: Mapping[str, str], sms_inbound_secret: str, twilio_auth_token: str = ""
) -> list[str]:
    """What is wrong, one message per webhook that is on without its secret; [] when nothing is."""
    missing = []
    if "email" in webhooks and not anymail.get("WEBHOOK_SECRET"):
        missing.append(
            "ANYMAIL_WEBHOOK_SECRET must be set (user:password, in the webhook URLs given to the email "
            "provider) while the email provider's webhooks are on: without it anyone may post a spam "
            "complaint that opts a person out of every survey. Set it, or leave email out of "
            "PROVIDER_WEBHOOKS."
        )
    if "sms" in webhooks and not sms_inbound_secret:
        missing.append(
            "SMS_INBOUND_SECRET must be set (the SMS provider sends it in X-Webhook-Secret) while the "
            "SMS webhook is on: without it every STOP is refused and never honoured. Set it, or leave "
            "sms out of PROVIDER_WEBHOOKS."
        )
    if "twilio" in webhooks and not twilio_auth_token:
        missing.append(
            "TWILIO_AUTH_TOKEN must be set (Twilio signs its webhooks with it) while the Twilio SMS "
            "webhook is on: without it every STOP is refused and never honoured. Set it, or leave "
            "twilio out of PROVIDER_WEBHOOKS."
        )
    return missing


def webhook_secrets_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """`manage.py check --deploy`: the same as the start-up refusal, whatever DEBUG says."""
    from django.conf import settings

    missing = webhook_secrets_missing(
        webhooks=settings.PROVIDER_WEBHOOKS,
        anymail=settings.ANYMAIL,
        sms_inbound_secret=settings.SMS_INBOUND_SECRET,
        twilio_auth_token=settings.TWILIO_AUTH_TOKEN,
    )
    return [checks.Error(message, id="cxfeedback.E002") for message in missing]
