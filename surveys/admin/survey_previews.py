"""A survey's previews and test send in the admin (issue 17), mixed into SurveyAdmin:

- Preview: the invitation e-mail (sender, subject, HTML, text) and the SMS for a sample contact
  reading one of the survey's languages, with a test-send form (surveys/design/previews.py);
- the survey page as that contact would see it, under a "Preview" banner: answers sent there are
  checked as the real page checks them and never stored;
- Send to myself: the invitation through the real channel to the owner's own address, at most
  SEND_TO_SELF_RATE, written to the survey's admin history.

Every view finds the survey through the admin's scoped queryset: another department's is 404.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from contacts.errors import InvalidIdentity
from contacts.normalise import normalise_phone
from cxfeedback.rate_limit import Rate, rate_limit_exceeded
from surveys.design.previews import invitation_preview, preview_languages, survey_send_to_self
from surveys.design.translations import questions_translated, survey_as_read, survey_texts
from surveys.errors import InvalidAnswers, SendToSelfFailed
from surveys.models import Survey
from surveys.public.forms import SurveyForm
from surveys.public.responses import answers_clean
from surveys.public.selectors import company_name, survey_questions

# Enough test sends to check a wording several times an hour; too few to mail anyone much.
SEND_TO_SELF_RATE = Rate(limit=5, period=3600)


class SurveyPreviewAdmin:
    """The preview pages and the test send of SurveyAdmin (a ModelAdmin)."""

    def preview_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/preview/", view(self.preview_view), name="surveys_survey_preview"),
            path(
                "<path:object_id>/preview/page/",
                view(self.page_preview_view),
                name="surveys_survey_preview_page",
            ),
            path(
                "<path:object_id>/preview/send-to-self/",
                view(self.send_to_self_view),
                name="surveys_survey_send_to_self",
            ),
        ]

    def _previewed(self, request: HttpRequest, object_id: str) -> tuple[Survey, str]:
        """The survey (404 outside the user's departments) and the language asked for (its own if none)."""
        survey = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_permission(request, survey):
            raise Http404("No such survey.")
        languages = preview_languages(survey)
        language = request.GET.get("language") or request.POST.get("language")
        return survey, language if language in languages else languages[0]

    @method_decorator(require_GET)
    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        survey, language = self._previewed(request, object_id)
        preview_url = reverse("admin:surveys_survey_preview", args=[survey.pk])
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview of “{survey}”",
            "opts": self.opts,
            "original": survey,
            "preview": invitation_preview(survey, language=language, now=timezone.now()),
            "languages": [(code, f"{preview_url}?language={code}") for code in preview_languages(survey)],
            "page_url": reverse("admin:surveys_survey_preview_page", args=[survey.pk])
            + f"?language={language}",
            "send_url": reverse("admin:surveys_survey_send_to_self", args=[survey.pk]),
            "owner_email": request.user.email,
            "change_url": reverse("admin:surveys_survey_change", args=[survey.pk]),
        }
        return TemplateResponse(request, "admin/surveys/survey/preview.html", context)

    @method_decorator(require_http_methods(["GET", "POST"]))
    def page_preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The customer's survey page for `language` readers; a POST checks the answers, stores nothing."""
        survey, language = self._previewed(request, object_id)
        texts = survey_texts(survey, locale=language)
        questions = questions_translated(survey_questions(survey), texts)
        form = SurveyForm(questions, data=request.POST if request.method == "POST" else None)
        checked = False
        if form.is_bound and form.is_valid():
            try:
                answers_clean(questions, form.answers())
                checked = True
            except InvalidAnswers as error:
                form.add_answer_errors(error)
        try:
            page_language = translation.get_supported_language_variant(language)
        except LookupError:
            page_language = settings.LANGUAGE_CODE
        context = {
            "survey": survey_as_read(survey, texts),
            "form": form,
            "company": company_name(),
            "department": survey.department.name,
            "language": language,
            "preview_checked": checked,
            "back_url": reverse("admin:surveys_survey_preview", args=[survey.pk]) + f"?language={language}",
        }
        with translation.override(page_language):  # rendered now, in the customer's language
            context["questions"] = form.question_views()
            return render(request, "admin/surveys/survey/page_preview.html", context)

    @method_decorator(require_POST)
    def send_to_self_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        survey, language = self._previewed(request, object_id)
        back = HttpResponseRedirect(
            reverse("admin:surveys_survey_preview", args=[survey.pk]) + f"?language={language}"
        )
        retry_after = rate_limit_exceeded(
            request, scope="send-to-self", rate=SEND_TO_SELF_RATE, client=f"user:{request.user.pk}"
        )
        if retry_after:
            minutes = -(-retry_after // 60)
            self.message_user(
                request,
                f"You sent {SEND_TO_SELF_RATE.limit} tests this hour; try again in {minutes} minutes.",
                messages.ERROR,
            )
            return back
        try:
            phone = normalise_phone(request.POST["phone"]) if request.POST.get("phone", "").strip() else ""
            channels = survey_send_to_self(
                survey=survey,
                language=language,
                name=request.user.get_full_name() or request.user.get_username(),
                email=request.user.email,
                phone=phone,
                now=timezone.now(),
            )
        except (InvalidIdentity, SendToSelfFailed) as error:
            self.message_user(request, error.message, messages.ERROR)
            return back
        # The survey's history says who tested it, how and in which language (no address).
        self.log_change(
            request, survey, f"Test send to the owner's own address ({', '.join(channels)}, {language})."
        )
        where = request.user.email + (" and your phone" if phone else "")
        self.message_user(request, f"Test invitation ({language}) sent to {where}.", messages.SUCCESS)
        return back
