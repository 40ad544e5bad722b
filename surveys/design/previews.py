"""Previews and test sends of a survey's invitation (issue 17), for its owner before sending it.

A preview renders the invitation e-mail (subject, sender, text and HTML) and the SMS exactly as
delivery would (surveys/delivery/channels/), for a sample contact reading one of the survey's
languages, and stores nothing. A test send puts that message through the real channel to the
owner's own e-mail address (and, if they give one, their phone): no invitation is made, so it is
not a touch and no frequency rule counts it. Neither carries a personal link's token: their links
say "preview", which opens no survey.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass

from contacts.models import Channel
from departments.models import CompanySettings
from surveys.delivery.channels import NO_MARK, Outgoing, SendFailed, sender_for
from surveys.delivery.channels.email import email_build
from surveys.delivery.channels.sms import sms_text
from surveys.design.translations import survey_texts, survey_translations
from surveys.errors import SendToSelfFailed
from surveys.models import Survey

# The contact a preview is written to.
SAMPLE_NAME = "Alex Sample"
# Stands where a personal link's token would be: no invitation has it, so the link opens no survey.
PREVIEW_TOKEN = "preview"  # noqa: S105 (not a secret: a token no invitation has)


@dataclass(frozen=True)
class InvitationPreview:
    """The invitation as a contact reading `language` gets it."""

    language: str
    subject: str
    sender: str
    text: str
    html: str
    sms: str


def preview_languages(survey: Survey) -> list[str]:
    """The survey's own language, then its translations' (prefetch translations for many)."""
    return [survey.language, *sorted(survey_translations(survey))]


def preview_message(
    survey: Survey, *, language: str, now: dt.datetime, name: str = SAMPLE_NAME, kind: str = "invite"
) -> Outgoing:
    """The invitation of `survey` to a contact named `name` whose locale is `language`, with no address."""
    texts = survey_texts(survey, locale=language)
    return Outgoing(
        invitation_id=0,
        kind=kind,
        channel=Channel.EMAIL,
        address="",
        name=name,
        locale=language,
        time_zone="",
        token=PREVIEW_TOKEN,
        survey_name=texts.name,
        survey_intro=texts.intro,
        department_name=survey.department.name,
        expires_at=now + dt.timedelta(days=survey.link_valid_days),
        minutes=survey.burden_minutes,  # what an invitation reserved now would say (Invitation.weight)
        email_subject=texts.email_subject,
        email_body=texts.email_body,
        company_name=CompanySettings.current().company_name,
    )


def invitation_preview(survey: Survey, *, language: str, now: dt.datetime) -> InvitationPreview:
    """The e-mail and SMS a contact reading `language` would get; stores nothing."""
    message = preview_message(survey, language=language, now=now)
    email = email_build(message)
    [(html, _mimetype)] = email.alternatives
    return InvitationPreview(
        language=language,
        subject=email.subject,
        sender=email.from_email,
        text=email.body,
        html=html,
        sms=sms_text(message),
    )


def survey_send_to_self(
    *, survey: Survey, language: str, name: str, email: str, phone: str = "", now: dt.datetime
) -> list[str]:
    """Send the invitation as a contact reading `language` gets it to the owner's own `email` (and
    an SMS to `phone`, in E.164, if given) through the configured channels, marked as a test. No
    invitation, no touch, nothing stored. The channels sent, in order; raises SendToSelfFailed when
    one refuses (what was sent before stays sent)."""
    if not email:
        raise SendToSelfFailed("Your account has no e-mail address to send the test to.")
    # A kind of its own per test send: its Message-ID differs from every other message's.
    message = preview_message(survey, language=language, now=now, name=name, kind=f"test-{uuid.uuid4().hex}")
    sent = []
    for channel, address in ((Channel.EMAIL, email), (Channel.SMS, phone)):
        if not address:
            continue
        sender = sender_for(channel)
        try:
            sender.open()
            sender.send(dataclasses.replace(message, channel=channel, address=address), mark_sent=NO_MARK)
        except SendFailed as error:
            raise SendToSelfFailed(
                f"The test {Channel(channel).label} was not sent: {error.reason}"
            ) from error
        finally:
            sender.close()
        sent.append(channel)
    return sent
