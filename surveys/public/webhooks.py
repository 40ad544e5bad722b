"""What the providers tell us about consent: the email provider's bounces and complaints (through
django-anymail's tracking signal), mail to the unsubscribe@ address that List-Unsubscribe offers
(anymail's inbound signal) and inbound SMS STOP messages. All become consent records
(surveys/public/preferences.py) that the gatekeeper honours at its next decision."""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from surveys.delivery.links import sender_domain
from surveys.public.preferences import consent_from_email_event, consent_from_sms_stop, consent_unsubscribe
from surveys.public.selectors import invitation_for_token

logger = logging.getLogger(__name__)

# The first word of an inbound SMS that means "no more messages": the carriers' standard keywords
# (CTIA) and their French and German forms.
STOP_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "arret", "arrêt", "stopp", "abmelden"}
)
SECRET_HEADER = "X-Webhook-Secret"  # noqa: S105 — a header name, not a secret
# The subject surveys/delivery/links.py puts in List-Unsubscribe's mailto; a mail client may prefix "Re:" etc.
UNSUBSCRIBE_SUBJECT = re.compile(r"unsubscribe-([A-Za-z0-9_-]{16,200})")


def email_tracking_received(sender, event, esp_name: str, **kwargs) -> None:
    """django-anymail's `tracking` signal: a bounce, rejection, complaint or provider-side
    unsubscribe for a recipient becomes an opt-out (surveys/apps.py connects it)."""
    if not settings.DEBUG and not settings.ANYMAIL.get("WEBHOOK_SECRET"):
        # Without its secret anymail accepts anonymous calls: a "complaint" could come from anyone.
        # Settings refuse to start that way (cxfeedback/webhook_secrets.py); this holds if they changed.
        logger.error(
            "%s event from %s ignored: ANYMAIL_WEBHOOK_SECRET is not set", event.event_type, esp_name
        )
        return
    recorded = consent_from_email_event(
        email=event.recipient or "", event_type=event.event_type, provider=esp_name
    )
    if recorded is not None:
        logger.info("%s from %s recorded as consent #%s", event.event_type, esp_name, recorded.pk)


def email_inbound_received(sender, event, esp_name: str, **kwargs) -> None:
    """django-anymail's `inbound` signal: a mail to unsubscribe@ (List-Unsubscribe's mailto) whose
    subject names a personal link's token unsubscribes that link's contact, exactly like the one-click
    POST. The token, not the sender's address, says who: a From header is easy to forge, and mail
    clients send from whichever address they like. Other inbound mail is not ours to act on."""
    message = event.message
    recipients = [address.addr_spec.casefold() for address in (message.to or [])] if message else []
    if f"unsubscribe@{sender_domain()}".casefold() not in recipients:
        return
    match = UNSUBSCRIBE_SUBJECT.search(message.subject or "")
    invitation = invitation_for_token(match.group(1)) if match else None
    if invitation is None:
        logger.info("Unsubscribe mail from %s without a known link; nothing recorded", esp_name)
        return
    recorded = consent_unsubscribe(invitation=invitation)
    logger.info(
        "Unsubscribe mail for invitation #%s: %s", invitation.pk, "recorded" if recorded else "already"
    )


@csrf_exempt  # a provider's server-to-server call, authenticated by the shared secret instead
@require_POST
def sms_inbound(request: HttpRequest) -> HttpResponse:
    """An inbound SMS: `from` (the phone) and `text`, form-encoded, with the shared secret in the
    X-Webhook-Secret header. STOP and its kin opt the phone's contact out of SMS. Answers 200 whether
    or not the phone is known, so the endpoint says nothing about who is a contact."""
    secret = settings.SMS_INBOUND_SECRET
    if not secret or not constant_time_compare(request.headers.get(SECRET_HEADER, ""), secret):
        return HttpResponse(status=403)
    phone = request.POST.get("from", "")
    if not phone:
        return HttpResponse("from: the sender's phone number is required.", status=400)
    if _first_word(request.POST.get("text", "")) in STOP_WORDS:
        consent_from_sms_stop(phone=phone)
    return HttpResponse(status=200)


def _first_word(text: str) -> str:
    words = re.findall(r"\w+", text.casefold())
    return words[0] if words else ""
