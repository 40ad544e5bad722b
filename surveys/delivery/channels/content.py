"""What a message says, in the contact's language and time zone: the template context every channel
renders from."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_supported_language_variant

from surveys.delivery import links
from surveys.delivery.channels import Outgoing


def language_of(message: Outgoing) -> str:
    """The contact's locale if the site speaks it (or its base language), else the default language."""
    try:
        return get_supported_language_variant(message.locale or settings.LANGUAGE_CODE)
    except LookupError:
        return settings.LANGUAGE_CODE


def zone_of(time_zone: str) -> zoneinfo.ZoneInfo:
    """The contact's time zone, or the site's when the contact has none (or an unknown one)."""
    try:
        return zoneinfo.ZoneInfo(time_zone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def message_context(message: Outgoing) -> dict:
    """The template context; call inside translation.override(language_of(message)) so the date
    reads in the contact's language."""
    expires_at = timezone.localtime(message.expires_at, zone_of(message.time_zone))
    return {
        "name": message.name,
        "department": message.department_name,
        "survey": message.survey_name,
        "intro": message.survey_intro,
        "minutes": message.minutes,
        "body": message.email_body,
        "is_test": message.is_test,
        "expires_on": date_format(expires_at, "DATE_FORMAT"),
        "survey_url": links.survey_url(message.token),
        "short_url": links.short_url(message.token),
        "unsubscribe_url": links.unsubscribe_url(message.token),
        "preferences_url": links.preferences_url(message.token),
        "is_reminder": message.is_reminder,
        "is_last_reminder": message.is_reminder and message.reminder_number >= settings.REMINDER_MAX,
    }
