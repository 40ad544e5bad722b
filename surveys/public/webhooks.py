"""What the providers tell us about consent: the email provider's bounces and complaints (through
django-anymail's tracking signal), mail to the unsubscribe@ address that List-Unsubscribe offers
(anymail's inbound signal) and inbound SMS STOP and START messages, from Twilio (its own webhook,
signed with the account's auth token) or any other provider (the generic one, with a shared
secret). All become consent records (surveys/public/preferences.py) that the gatekeeper honours at
its next decision."""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from surveys.delivery.links import sender_domain
from surveys.public.preferences import (
    consent_from_email_event,
    consent_from_sms_start,
    consent_from_sms_stop,
    consent_unsubscribe,
)
from surveys.public.selectors import invitation_for_token

logger = logging.getLogger(__name__)

# The first word of an inbound SMS that means "no more messages": the carriers' standard keywords
# (CTIA; Twilio's defaults add REVOKE and OPTOUT) and their French and German forms. The first word,
# not the whole message as the carriers match: "Stop texting me" is a no too.
STOP_WORDS = frozenset(
    {
        "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout",
        "arret", "arrêt", "stopp", "abmelden",
    }
)  # fmt: skip
# A message that is only one of these takes a STOP back (Twilio's default opt-in keywords). The whole
# message: "Start over? No" must not undo a STOP.
START_WORDS = frozenset({"start", "unstop", "yes"})
SECRET_HEADER = "X-Webhook-Secret"  # noqa: S105 — a header name, not a secret
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
# Twilio's Advanced Opt-Out names the keyword it matched (the account's own, in any language).
TWILIO_OPT_OUT_TYPES = {"STOP": "stop", "START": "start", "HELP": ""}
# An empty TwiML answer: nothing to send back (Twilio itself confirms a STOP or START to the phone).
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
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
    X-Webhook-Secret header. STOP and its kin opt the phone's contact out of SMS, START takes it
    back. Answers 200 whether or not the phone is known, so the endpoint says nothing about who is
    a contact."""
    secret = settings.SMS_INBOUND_SECRET
    if not secret or not constant_time_compare(request.headers.get(SECRET_HEADER, ""), secret):
        return HttpResponse(status=403)
    phone = request.POST.get("from", "")
    if not phone:
        return HttpResponse("from: the sender's phone number is required.", status=400)
    _sms_keyword_apply(phone=phone, keyword=sms_keyword(request.POST.get("text", "")), provider="")
    return HttpResponse(status=200)


@csrf_exempt  # Twilio's server-to-server call, authenticated by its signature instead
@require_POST
def sms_inbound_twilio(request: HttpRequest) -> HttpResponse:
    """Twilio's incoming-message webhook: `From`, `Body` (and `OptOutType` with Advanced Opt-Out),
    form-encoded, signed in X-Twilio-Signature with the account's auth token over the URL Twilio
    was given — SITE_URL and this path — and every parameter (twilio's RequestValidator). Twilio
    can add no header of its own, so the generic webhook's secret cannot work for it. Answers an
    empty TwiML whether or not the phone is known."""
    token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get(TWILIO_SIGNATURE_HEADER, "")
    # The URL as Twilio called it, not as the proxy in front passed it on (scheme, host, port).
    url = settings.SITE_URL + request.get_full_path()
    if not token or not signature or not RequestValidator(token).validate(url, request.POST, signature):
        return HttpResponse(status=403)
    phone = request.POST.get("From", "")
    if not phone:
        return HttpResponse("From: the sender's phone number is required.", status=400)
    opt_out_type = request.POST.get("OptOutType", "").upper()
    keyword = (
        TWILIO_OPT_OUT_TYPES[opt_out_type]
        if opt_out_type in TWILIO_OPT_OUT_TYPES
        else sms_keyword(request.POST.get("Body", ""))
    )
    _sms_keyword_apply(phone=phone, keyword=keyword, provider="Twilio")
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


def sms_keyword(text: str) -> str:
    """What an inbound SMS says about consent: "stop", "start" or "" (nothing)."""
    words = re.findall(r"\w+", text.casefold())
    if words and words[0] in STOP_WORDS:
        return "stop"
    if len(words) == 1 and words[0] in START_WORDS:
        return "start"
    return ""


def _sms_keyword_apply(*, phone: str, keyword: str, provider: str) -> None:
    if keyword == "stop":
        recorded = consent_from_sms_stop(phone=phone, provider=provider)
    elif keyword == "start":
        recorded = consent_from_sms_start(phone=phone, provider=provider)
    else:
        return
    # Never the phone: the log is read by more people than the consent records.
    logger.info(
        "SMS %s%s: %s", keyword.upper(), f" from {provider}" if provider else "",
        f"recorded as consent #{recorded.pk}" if recorded else "nothing to record",
    )  # fmt: skip
