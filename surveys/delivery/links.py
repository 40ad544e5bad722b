"""The customer's personal links, in one place: delivery writes them into messages, the public pages
serve them. Paths and URL names are defined here and nowhere else, so the two cannot drift apart.

A link carries only the token (surveys/delivery/tokens.py), never a contact or invitation id. The public
pages' urls.py registers each path under its name:
`path(links.SURVEY_PATH, views.…, name=links.SURVEY_URL_NAME)`.
"""

from django.conf import settings

# Route patterns for django.urls.path (no leading slash) and the names they are registered under.
SURVEY_PATH = "t/<str:token>"
SURVEY_URL_NAME = "survey"
UNSUBSCRIBE_PATH = "u/<str:token>"
UNSUBSCRIBE_URL_NAME = "unsubscribe"
PREFERENCES_PATH = "p/<str:token>"
PREFERENCES_URL_NAME = "preferences"
# The same survey page as SURVEY_PATH, under a shorter prefix for SMS.
SHORT_PATH = "s/<str:token>"
SHORT_URL_NAME = "survey-short"


def _absolute(path: str, token: str) -> str:
    return f"{settings.SITE_URL}/{path.replace('<str:token>', token)}"


def survey_url(token: str) -> str:
    """`{SITE_URL}/t/<token>`: the survey page of the invitation the token belongs to."""
    return _absolute(SURVEY_PATH, token)


def unsubscribe_url(token: str) -> str:
    """`{SITE_URL}/u/<token>`: one-click unsubscribe (GET shows a page, POST unsubscribes, RFC 8058)."""
    return _absolute(UNSUBSCRIBE_PATH, token)


def preferences_url(token: str) -> str:
    """`{SITE_URL}/p/<token>`: the preference centre (snooze, per-department opt-out, channel)."""
    return _absolute(PREFERENCES_PATH, token)


def short_url(token: str) -> str:
    """`{SITE_URL}/s/<token>`: the survey page, for SMS where every character counts."""
    return _absolute(SHORT_PATH, token)


def unsubscribe_mailto(token: str) -> str:
    """The mailto form of unsubscribing for List-Unsubscribe: a message to unsubscribe@ the sender's
    domain whose subject names the token."""
    return f"mailto:unsubscribe@{sender_domain()}?subject=unsubscribe-{token}"


def sender_domain() -> str:
    """The domain of DEFAULT_FROM_EMAIL (which may be written `Name <address>`)."""
    address = settings.DEFAULT_FROM_EMAIL.rsplit("<", 1)[-1].rstrip(">").strip()
    return address.rsplit("@", 1)[-1]
