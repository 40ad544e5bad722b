"""The customer's pages, reached from a personal link: the survey, thank-you, already answered, an
invalid link, one-click unsubscribe and the preference centre. Plain server-rendered Django: every
page works without JavaScript.

Every page here:
- is found by its token alone, and answers an unknown token and an expired one with the same page,
  status and queries, in the visitor's language, so an outsider cannot tell them apart;
- speaks the contact's language once the token is known (the invitation's department's view of
  them, else the person's own: DepartmentContact.locale, Contact.locale);
- changes nothing on GET except marking a survey opened (link scanners fetch every link);
- is rate limited per client (settings.PUBLIC_RATE_LIMIT), sends `Referrer-Policy: strict-origin`
  so the token in the address never leaves in a Referer header (only the site's origin does, even
  to the site itself), and is never cached;
- checks its forms' POSTs with Django's CSRF protection (a token in the form, the csrftoken
  cookie, and over HTTPS the Origin header): the token in the address keeps outsiders out, and the
  CSRF check keeps another site from making the customer's own browser post on their behalf (a
  link they were tricked into opening, then a forged "unsubscribe" or answer). strict-origin, not
  no-referrer: under no-referrer Chromium posts forms with `Origin: null`, which the check refuses.
  The one exception is RFC 8058's one-click unsubscribe, which a mail provider POSTs with no cookie
  and no form (`one_click_or_csrf`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from cxfeedback.rate_limit import Rate, rate_limit_exceeded
from surveys.delivery import links
from surveys.design.translations import (
    SurveyTexts,
    contact_locale,
    questions_translated,
    survey_as_read,
    survey_texts,
)
from surveys.errors import AlreadyAnswered, InvalidAnswers, InvitationExpired
from surveys.models import Invitation, Survey
from surveys.public.forms import PreferencesForm, SurveyForm
from surveys.public.preferences import (
    SNOOZE_DAYS,
    consent_opt_out,
    consent_prefer_channel,
    consent_snooze,
    consent_unsubscribe,
)
from surveys.public.responses import invitation_open, response_submit
from surveys.public.selectors import (
    LinkState,
    company_name,
    contact_channels,
    department_name,
    invitation_for_token,
    link_state,
    preferences_status,
    survey_questions,
)

TEMPLATES = "surveys/public/"


class SeeOther(HttpResponseRedirect):
    """303: after a POST, the browser GETs the next page, so reloading it never submits again."""

    status_code = 303


def public_page(*, limit_posts: bool = True) -> Callable[[Callable], Callable]:
    """Rate limit (POSTs too unless `limit_posts` is off), and the headers every public page carries."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            limited = limit_posts or request.method != "POST"
            retry_after = rate_limit_exceeded(request, scope="public", rate=_public_rate()) if limited else 0
            if retry_after:
                response = _render(request, "rate_limited.html", status=429)
                response["Retry-After"] = str(retry_after)
            else:
                response = view(request, *args, **kwargs)
            response["Referrer-Policy"] = "strict-origin"
            response["X-Robots-Tag"] = "noindex, nofollow"
            add_never_cache_headers(response)
            return response

        return wrapped

    return decorate


# RFC 8058: the body of a mail provider's one-click unsubscribe POST.
ONE_CLICK = ("List-Unsubscribe", "One-Click")


def one_click_or_csrf(view: Callable) -> Callable:
    """CSRF-checked like every form, except the RFC 8058 one-click POST, which comes from the mail
    provider with no cookie and no form token; it only ever unsubscribes, and only a token holder
    can make one count."""
    protected = csrf_protect(view)

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "POST" and request.POST.get(ONE_CLICK[0]) == ONE_CLICK[1]:
            return view(request, *args, **kwargs)
        return protected(request, *args, **kwargs)

    return csrf_exempt(wrapped)


def _public_rate() -> Rate:
    return Rate.parse(settings.PUBLIC_RATE_LIMIT)


def _render(
    request: HttpRequest, template: str, context: dict | None = None, *, status: int = 200
) -> HttpResponse:
    """Render now, in the active language (a lazy TemplateResponse would render after the
    language override ends)."""
    response = render(request, TEMPLATES + template, context or {}, status=status)
    response["Content-Language"] = translation.get_language()
    return response


def contact_language(invitation: Invitation, request: HttpRequest, *, locale: str | None = None) -> str:
    """The contact's language as the invitation's department knows it (its view's locale, else the
    person's own; `locale` when the caller read it already) if the site speaks it, else the
    visitor's (LocaleMiddleware's)."""
    try:
        return translation.get_supported_language_variant(locale or contact_locale(invitation))
    except LookupError:
        return request.LANGUAGE_CODE


def _link_invalid(request: HttpRequest) -> HttpResponse:
    """The one answer for a token that is unknown, expired, cancelled or never delivered: it names
    the company (never the department, which would tell a made-up token from a real one)."""
    with translation.override(request.LANGUAGE_CODE):
        return _render(request, "link_invalid.html", {"company": company_name()}, status=404)


def _asker(invitation: Invitation) -> dict:
    """Who is asking, for the page's header: the company and the invitation's department."""
    return {"company": company_name(), "department": department_name(invitation.department_id)}


@public_page()
@require_http_methods(["GET", "HEAD", "POST"])
def survey(request: HttpRequest, token: str) -> HttpResponse:
    now = timezone.now()
    invitation = invitation_for_token(token)
    state = link_state(invitation, now=now)
    if state == LinkState.CLOSED:
        return _link_invalid(request)
    locale = contact_locale(invitation)
    with translation.override(contact_language(invitation, request, locale=locale)):
        asker = _asker(invitation)
        if state == LinkState.ANSWERED:
            return _render(request, "already_answered.html", {"token": token, **asker})
        # The survey in the contact's translation of it, as the invitation e-mail was.
        texts = survey_texts(invitation.survey, locale=locale)
        if request.method != "POST":
            if request.method == "GET":
                invitation_open(invitation=invitation, now=now)
            return _survey_page(request, invitation.survey, asker, texts)
        form = SurveyForm(questions_translated(survey_questions(invitation.survey), texts), data=request.POST)
        if form.is_valid():
            try:
                response_submit(
                    invitation=invitation, answers=form.answers(), now=now, locale=translation.get_language()
                )
            except AlreadyAnswered:  # another submit of the same invitation got in first
                return _render(request, "already_answered.html", {"token": token, **asker})
            except InvitationExpired:
                return _link_invalid(request)
            except InvalidAnswers as error:
                form.add_answer_errors(error)
            else:
                return SeeOther(reverse("survey-thanks", args=[token]))
        return _render(request, "survey.html", _survey_context(invitation.survey, form, asker, texts))


def _survey_context(survey: Survey, form: SurveyForm, asker: dict, texts: SurveyTexts) -> dict:
    survey = survey_as_read(survey, texts)
    return {"survey": survey, "form": form, "questions": form.question_views(), **asker}


def _blank_form(survey: Survey, texts: SurveyTexts) -> SurveyForm:
    return SurveyForm(questions_translated(survey_questions(survey), texts))


def _survey_page(request: HttpRequest, survey: Survey, asker: dict, texts: SurveyTexts) -> HttpResponse:
    """The survey with nothing filled in. For a sent (frozen) survey that page is the same for
    every customer but for its CSRF token, so each process renders it once per language of the
    page and of the survey's translation (and company and department name, so a new name shows at
    once) and puts each visitor's token in."""
    if survey.frozen_at is None:
        context = _survey_context(survey, _blank_form(survey, texts), asker, texts)
        return _render(request, "survey.html", context)
    page = _frozen_survey_page(
        survey.pk, translation.get_language(), texts.language, asker["company"], asker["department"]
    )
    response = HttpResponse(page.replace(CSRF_PLACEHOLDER, get_token(request), 1))
    response["Content-Language"] = translation.get_language()
    return response


# Stands for the visitor's CSRF token in a cached page; letters only, so escaping leaves it alone.
CSRF_PLACEHOLDER = "CSRFTOKENPLACEHOLDERxQzv"


@functools.lru_cache(maxsize=256)
def _frozen_survey_page(
    survey_id: int, language: str, texts_language: str, company: str, department: str
) -> str:
    survey = Survey.objects.get(pk=survey_id)
    asker = {"company": company, "department": department}
    texts = survey_texts(survey, locale=texts_language)
    context = _survey_context(survey, _blank_form(survey, texts), asker, texts)
    context["csrf_token"] = CSRF_PLACEHOLDER
    with translation.override(language):
        return render_to_string(TEMPLATES + "survey.html", context)


@public_page()
@require_http_methods(["GET", "HEAD"])
def survey_thanks(request: HttpRequest, token: str) -> HttpResponse:
    invitation = invitation_for_token(token)
    state = link_state(invitation, now=timezone.now())
    if state == LinkState.CLOSED:
        return _link_invalid(request)
    if state == LinkState.OPEN:  # not answered yet: back to the questions
        return SeeOther(reverse(links.SURVEY_URL_NAME, args=[token]))
    with translation.override(contact_language(invitation, request)):
        return _render(request, "thanks.html", {"token": token, **_asker(invitation)})


# An unsubscribe POST is never refused by the rate limit: mail providers send RFC 8058 one-click
# unsubscribes from shared addresses, and a lost one means surveying someone who said no. Only a
# token holder can make one count, and 192-bit tokens cannot be guessed at any rate.
@public_page(limit_posts=False)
@one_click_or_csrf
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button; POST (the button, or a mail provider's one-click) unsubscribes. Works after
    the survey link has expired: an unsubscribe link must keep working."""
    invitation = invitation_for_token(token)
    if invitation is None:
        return _link_invalid(request)
    with translation.override(contact_language(invitation, request)):
        context = {"token": token, **_asker(invitation)}
        if request.method == "POST":
            consent_unsubscribe(invitation=invitation)
            return _render(request, "unsubscribed.html", context)
        status = preferences_status(invitation=invitation, channels=set(), now=timezone.now())
        template = "unsubscribed.html" if status.unsubscribed else "unsubscribe.html"
        return _render(request, template, context)


@public_page()
@require_http_methods(["GET", "HEAD", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    """The preference centre: pause surveys, stop one department's or everyone's, choose a channel."""
    invitation = invitation_for_token(token)
    if invitation is None:
        return _link_invalid(request)
    with translation.override(contact_language(invitation, request)):
        form = PreferencesForm(data=request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            outcome = _preference_apply(invitation, form.cleaned_data)
            return SeeOther(reverse(links.PREFERENCES_URL_NAME, args=[token]) + f"?saved={outcome}")
        channels = contact_channels(invitation.contact_id)
        context = {
            "token": token,
            "form": form,
            "offer_channels": len(channels) > 1,
            "status": preferences_status(invitation=invitation, channels=channels, now=timezone.now()),
            "saved": "" if form.is_bound else SAVED.get(request.GET.get("saved", ""), ""),
            "snooze_days": SNOOZE_DAYS,
            **_asker(invitation),
        }
        return _render(request, "preferences.html", context)


# What the page says after a choice (`?saved=`), read against what holds now (preferences.html):
# "pause_kept" when a longer pause was in force, so the shorter one asked for changes nothing.
SAVED = {"1": "saved", "pause_kept": "pause_kept"}


def _preference_apply(invitation: Invitation, choice: dict) -> str:
    """Apply the customer's choice; the outcome the page then reports (a key of SAVED)."""
    if choice["action"] == "snooze":
        if consent_snooze(invitation=invitation, days=choice["days"]) is None:
            return "pause_kept"
    elif choice["action"] == "opt_out":
        consent_opt_out(invitation=invitation, everyone=choice["scope"] == "everyone")
    else:
        consent_prefer_channel(invitation=invitation, channel=choice["channel"])
    return "1"
