"""Marketing finds nothing of support anywhere: every admin page and every API endpoint, visited as
marketing's owner (mallory) and with marketing's API key (issue 6, security).

Nothing here names a page. Support's world is built through the real services (a contact with a
name, email, phone and attributes, consent, an import with an issue, a survey with a free-text
question, a screened request, an answered invitation, an API key), the pages are enumerated from
admin.site's registry and the URL resolver, and every path parameter is filled with support's ids.
Pages added later (the results dashboard, drill-down, export, follow-ups) are swept the day they
are mounted. What counts as "support's": every row support's owner sees in an admin that
marketing's owner does not, so shared configuration (frequency rules) is left out by the admin's
own scoping.

A page passes when it answers 404 for support's object (never 403, which would confirm the id
exists), lists none of support's rows, and carries none of the markers below in its body.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern
from django.utils import timezone
from rest_framework.test import APIClient

from contacts.consent_services import consent_record
from contacts.models import ContactImport, ContactImportIssue
from contacts.services import contact_upsert
from departments.actors import actor_for_user
from departments.services import api_key_create
from results.models import ExportJob
from surveys.external.reservations import external_reservation_create
from surveys.external.touches import TouchInput
from surveys.models import AudienceUpload, Invitation, TouchImport
from surveys.public.responses import response_submit
from tests import factories

# Every one of these is support's alone; none may reach marketing in any form.
MARKER = "zyxwa"
SUPPORT_NAME = "Zyxwa Quimbleton"
SUPPORT_EMAIL = "zyxwa.quimbleton@support-only.example"
SUPPORT_PHONE_DIGITS = "15112349876"
SUPPORT_PHONE = "+49 151 12349876"
SECRETS = (MARKER, "quimbleton", "support-only.example", SUPPORT_PHONE_DIGITS, "151 12349876")

# Admin views with no object and nothing to leak, or that end the session.
ADMIN_SKIPPED_NAMES = {"logout", "password_change", "password_change_done", "jsi18n", "login"}


def body(response) -> bytes:
    """The whole body, streamed (CSV exports) or not."""
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def leaks(content: bytes, *, echoed: str = "") -> list[str]:
    """Support's secrets in `content`; `echoed` is what the caller itself sent (an error may repeat it)."""
    text = content.decode("utf-8", "replace").lower()
    if echoed:
        text = text.replace(echoed.lower(), "")
    return [secret for secret in SECRETS if secret in text]


@dataclass
class SupportWorld:
    """Support's objects, by model label, that marketing's owner must never see."""

    ids: dict[str, set[int]]

    def public_ids(self, label: str) -> list[str]:
        """The random ids the API shows for the objects of `label` (contacts, requests, invitations)."""
        model = apps.get_model(label)
        return sorted(
            str(u) for u in model.objects.filter(pk__in=self.ids[label]).values_list("public_id", flat=True)
        )

    def all_ids(self) -> list[int]:
        return sorted(set(itertools.chain.from_iterable(self.ids.values())))

    def ids_for_parameter(self, parameter: str) -> tuple[list[int], bool]:
        """The ids to fill `parameter` with, and whether they are known to be of the right model
        (then the answer must be 404). `contact_id` → contacts.contact, `import_id` →
        contacts.contactimport; unknown names get every id of support's, of any model."""
        name = parameter.removesuffix("_id").removesuffix("_pk").replace("_", "")
        for exact in (True, False):
            for label, ids in self.ids.items():
                model_name = label.split(".")[1]
                if (model_name == name) if exact else (len(name) > 2 and model_name.endswith(name)):
                    return sorted(ids), True
        return self.all_ids(), False


@pytest.fixture
def support_world(support, marketing, alice, mallory) -> SupportWorld:
    actor = actor_for_user(alice)
    view, _ = contact_upsert(
        actor=actor,
        department=support,
        identities=[
            ("email", "", SUPPORT_EMAIL),
            ("phone", "", SUPPORT_PHONE),
            ("external", "crm", "ZYXWA-7"),
        ],
        name=SUPPORT_NAME,
        attributes={"ticket": "zyxwa-ticket-4711"},
    )
    contact = view.contact
    consent_record(
        actor=actor, contact=contact, kind="opt_out", department=support, channel="sms", source="admin",
        note="zyxwa asked by phone",
    )  # fmt: skip
    survey = factories.SurveyFactory(department=support, name="Zyxwa repair survey", questions=[])
    factories.QuestionFactory(survey=survey, position=1, kind="nps", text="Zyxwa: recommend us?")
    factories.QuestionFactory(survey=survey, position=2, kind="free_text", text="Zyxwa: anything else?")
    send_request = factories.screened_request(support, survey=survey, purpose="Zyxwa ticket follow-up")
    invitation = Invitation.objects.get(send_request=send_request, contact=contact)
    Invitation.objects.filter(pk=invitation.pk).update(status="sent")
    invitation.refresh_from_db()
    response = response_submit(invitation=invitation, answers={1: 2, 2: "Zyxwa says the engineer was rude"})
    contact_import = ContactImport.objects.create(
        department=support, created_by=alice, filename="zyxwa-customers.csv", status="completed"
    )
    ContactImportIssue.objects.create(
        contact_import=contact_import, row_number=2, kind="invalid", column="email",
        reason="not an email", data={"email": "zyxwa@", "name": SUPPORT_NAME},
    )  # fmt: skip
    api_key_create(department=support, name="zyxwa integration")
    ids = _seen_by_alice_only(alice, mallory)
    # Responses have no admin of their own (the results pages show them); their ids fill
    # `response_id` parameters all the same.
    ids.setdefault("surveys.response", {response.pk})
    # A slot reserved for support's other survey tool (ask-then-record): `reservation_id` parameters.
    reserved = external_reservation_create(
        actor=actor,
        department=support,
        touch=TouchInput(contact.pk, "relationship", "email", timezone.now(), "zyxwa-tool", "ZYXWA-SLOT"),
    )
    ids.setdefault("surveys.externaltouch", {reserved.touch.pk})
    # A CSV of touches from support's other tool, imported: `import_id` parameters of the touch imports.
    touch_import = TouchImport.objects.create(
        department=support, created_by=alice, filename="zyxwa-touches.csv", status="completed",
        issues=[{"row": 2, "column": "email", "message": f"zyxwa: {SUPPORT_EMAIL}"}],
    )  # fmt: skip
    ids.setdefault("surveys.touchimport", {touch_import.pk})
    # Support's export of its answers, a background job: `public_id` parameters of the export jobs.
    export_job = ExportJob.objects.create(
        kind="responses",
        state="done",
        created_by=alice,
        department_ids=[support.pk],
        rows_total=1,
        rows_done=1,
    )
    ids.setdefault("results.exportjob", {export_job.pk})
    # Support's audience list uploaded to its request: `upload_id` parameters.
    upload = AudienceUpload.objects.create(
        send_request=send_request, contact_import=contact_import, created_by=alice, status="completed"
    )
    ids.setdefault("surveys.audienceupload", {upload.pk})
    return SupportWorld(ids=ids)


def _seen_by_alice_only(alice, mallory) -> dict[str, set[int]]:
    ids = {}
    for model, model_admin in admin.site._registry.items():
        seen = {}
        for user in (alice, mallory):
            request = RequestFactory().get("/admin/")
            request.user = user
            seen[user.username] = set(model_admin.get_queryset(request).values_list("pk", flat=True))
        only_support = seen["alice"] - seen["mallory"]
        if only_support:
            ids[model._meta.label_lower] = only_support
    return ids


def test_the_world_covers_every_kind_of_support_data(support_world):
    # The sweep is only as good as what support has: each of these must be there to be looked for.
    for label in (
        "contacts.contact", "contacts.consent", "contacts.contactimport", "contacts.contactimportissue",
        "surveys.survey", "surveys.sendrequest", "surveys.decision", "surveys.invitation",
        "surveys.response", "departments.department", "departments.apikey",
    ):  # fmt: skip
        assert support_world.ids.get(label), label


# ---------------------------------------------------------------------------------------------
# The admin


def _admin_object_urls(support_world: SupportWorld) -> list[tuple[str, str]]:
    """(label, url) of the change, delete and history page of every support object."""
    urls = []
    for model in admin.site._registry:
        label = model._meta.label_lower
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}"
        for pk in sorted(support_world.ids.get(label, ())):
            urls += [(label, f"{base}/{pk}/change/"), (label, f"{base}/{pk}/delete/")]
            urls.append((label, f"{base}/{pk}/history/"))
    return urls


def test_every_admin_object_page_of_support_is_404_for_marketing(support_world, mallory_client):
    urls = _admin_object_urls(support_world)
    assert len(urls) >= 30  # the world above, three pages per object

    wrong = {}
    for label, url in urls:
        for method in ("get", "post"):
            response = getattr(mallory_client, method)(url)
            found = leaks(body(response))
            if response.status_code != 404 or found:
                wrong[f"{method.upper()} {url} ({label})"] = (response.status_code, found)
    assert wrong == {}


def test_view_on_site_does_not_confirm_support_objects(support_world, mallory_client):
    wrong = {}
    for label, ids in support_world.ids.items():
        content_type = ContentType.objects.get_for_model(apps.get_model(label))
        for pk in ids:
            response = mallory_client.get(f"/admin/r/{content_type.pk}/{pk}/")
            if response.status_code != 404:
                wrong[f"{label} {pk}"] = response.status_code
    assert wrong == {}


def test_no_admin_list_or_form_shows_marketing_anything_of_support(support_world, mallory_client):
    pages = ["/admin/"]
    for model in admin.site._registry:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        pages += [base, f"{base}?q={MARKER}", f"{base}?q={SUPPORT_PHONE_DIGITS}", f"{base}add/"]
        pages.append(f"/admin/{model._meta.app_label}/")

    wrong = {}
    for url in dict.fromkeys(pages):
        response = mallory_client.get(url)
        found = leaks(body(response), echoed=url.partition("?q=")[2])  # the search box repeats it
        # 404: an app index with nothing mallory may see (auth).
        assert response.status_code in (200, 403, 404), (url, response.status_code)
        if found:
            wrong[url] = found
    assert wrong == {}


def test_autocomplete_offers_marketing_nothing_of_support(support_world, mallory_client):
    asked = 0
    for model, model_admin in admin.site._registry.items():
        for field_name in model_admin.autocomplete_fields:
            response = mallory_client.get(
                "/admin/autocomplete/",
                {"app_label": model._meta.app_label, "model_name": model._meta.model_name,
                 "field_name": field_name, "term": MARKER},
            )  # fmt: skip
            asked += 1
            assert not leaks(body(response)), (model, field_name)
    # Nothing to sweep today is fine; the loop picks up autocomplete fields the day one is added.
    assert asked >= 0


def _patterns(resolver: URLResolver, prefix: str = ""):
    """Every (route with <converter:name> placeholders, pattern) under `resolver`; regex patterns
    (the admin's app index and catch-all, anymail's) are left out: they are swept by name."""
    for entry in resolver.url_patterns:
        if not isinstance(entry.pattern, RoutePattern):
            continue
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


PLACEHOLDER = re.compile(r"<(?:(\w+):)?(\w+)>")


def _filled(route: str, support_world: SupportWorld) -> list[tuple[str, bool]]:
    """The route with its parameters filled by support's ids: (path, known-to-be-right-model)."""
    parameters = PLACEHOLDER.findall(route)
    if not parameters:
        return [("/" + route, True)]
    choices = [
        _public_ids_for(name, support_world) if converter == "uuid" else _ids_for(route, name, support_world)
        for converter, name in parameters
    ]
    exact = all(known for _, known in choices)
    paths = []
    for values in itertools.product(*(ids for ids, _ in choices)):
        filled = iter(values)
        paths.append(("/" + PLACEHOLDER.sub(lambda _, filled=filled: str(next(filled)), route), exact))
    return paths


ADMIN_OBJECT_ROUTE = re.compile(r"^admin/(\w+)/(\w+)/<path:object_id>/")


def _ids_for(route: str, parameter: str, support_world: SupportWorld) -> tuple[list[int], bool]:
    """A ModelAdmin's own object pages (a request's preflight, a survey's new version) name their
    model in the route; other parameters by their name."""
    model_route = ADMIN_OBJECT_ROUTE.match(route)
    if parameter == "object_id" and model_route:
        label = f"{model_route[1]}.{model_route[2]}"
        if label in support_world.ids:
            return sorted(support_world.ids[label]), True
    return support_world.ids_for_parameter(parameter)


def _public_ids_for(parameter: str, support_world: SupportWorld) -> tuple[list[str], bool]:
    """A `<uuid:…>` parameter takes the public ids of the model its name says."""
    name = parameter.removesuffix("_id").replace("_", "")
    name = PUBLIC_ID_ALIASES.get(name, name)
    label = next(label for label in PUBLIC_ID_MODELS if label.split(".")[1] == name)
    return support_world.public_ids(label), True


# The models whose API ids are random UUIDs.
PUBLIC_ID_MODELS = (
    "contacts.contact",
    "surveys.sendrequest",
    "surveys.invitation",
    "surveys.externaltouch",
    "surveys.touchimport",
    "surveys.audienceupload",
    "results.exportjob",
)
# Parameters named for what the API calls an object rather than for its model.
PUBLIC_ID_ALIASES = {
    "reservation": "externaltouch",
    "import": "touchimport",
    "upload": "audienceupload",
    "public": "exportjob",  # the export jobs' routes name theirs `public_id`
}


def _custom_admin_routes() -> list[str]:
    """Admin routes beyond the standard ones of each ModelAdmin: imports, templates, results pages."""
    standard = re.compile(r"_(changelist|add|change|delete|history)$")
    routes = []
    for route, pattern in _patterns(get_resolver()):
        if not route.startswith("admin/") or pattern.name in ADMIN_SKIPPED_NAMES:
            continue
        if pattern.name and standard.search(pattern.name):
            continue
        if route.startswith("admin/r/"):  # view_on_site: swept above
            continue
        if ADMIN_OBJECT_ROUTE.match(route) and route.endswith("<path:object_id>/"):
            continue  # Django's old address of the change page: a redirect to it, whatever the id
        routes.append(route)
    return routes


def test_custom_admin_pages_give_marketing_nothing_of_support(support_world, mallory_client):
    routes = _custom_admin_routes()
    assert "admin/contacts/contact/import/<int:import_id>/" in routes  # the enumeration works

    wrong = {}
    for route in routes:
        for path, exact in _filled(route, support_world):
            response = mallory_client.get(path)
            if response.status_code == 405:  # a POST-only page (an import's confirm step)
                response = mallory_client.post(path)
            if "<" not in route:  # a page of its own, not an object: it may refuse mallory
                refused = response.status_code in (200, 302, 400, 403, 404, 405)
            else:
                refused = response.status_code in ((404,) if exact else (200, 302, 404, 405))
            found = leaks(body(response))
            if not refused or found:
                wrong[path] = (response.status_code, found)
    assert wrong == {}


# ---------------------------------------------------------------------------------------------
# The REST API

# Query parameters a list might filter by: each is tried with every id of support's.
FILTER_NAMES = ("contact", "contact_id", "survey", "survey_id", "department", "send_request", "q", "search")


@pytest.fixture(params=["api_key", "session"])
def marketing_caller(request, marketing, mallory) -> APIClient:
    """Marketing's integration (its API key) and marketing's owner (a session) alike."""
    if request.param == "api_key":
        return request.getfixturevalue("marketing_api")
    client = APIClient()
    client.force_login(mallory)
    return client


def _api_routes() -> list[str]:
    routes = [route for route, _ in _patterns(get_resolver()) if route.startswith("api/v1/")]
    assert "api/v1/contacts/<uuid:contact_id>" in routes  # the enumeration works
    return routes


def test_every_api_object_of_support_is_404_for_marketing(support_world, marketing_caller):
    wrong = {}
    for route in _api_routes():
        if "<" not in route:
            continue
        for path, exact in _filled(route, support_world):
            for method in ("get", "post", "patch", "put", "delete"):
                response = getattr(marketing_caller, method)(path, {}, format="json")
                status = response.status_code
                bad = status == 403 or status >= 500 or (exact and status not in (404, 405))
                found = leaks(body(response))
                if bad or found:
                    wrong[f"{method.upper()} {path}"] = (status, found)
    assert wrong == {}


def test_no_api_list_gives_marketing_anything_of_support(support_world, marketing_caller):
    ids = support_world.all_ids()
    wrong = {}
    for route in _api_routes():
        if "<" in route:
            continue
        path = "/" + route
        queries = [{}] + [{name: value} for name in FILTER_NAMES for value in [MARKER, *ids]]
        for query in queries:
            response = marketing_caller.get(path, query)
            found = leaks(body(response), echoed=MARKER if MARKER in query.values() else "")
            if response.status_code >= 500 or found:
                wrong[f"GET {path} {query}"] = (response.status_code, found)
    assert wrong == {}


def test_api_writes_naming_support_objects_are_refused_without_a_leak(support_world, marketing_caller):
    """Creating things that point at support's survey or contact: refused, and the refusal names
    nothing of support's."""
    contact_id = support_world.public_ids("contacts.contact")[0]
    survey_id = min(support_world.ids["surveys.survey"])
    payload = {
        "survey": survey_id, "survey_id": survey_id, "contact": {"id": contact_id}, "contact_id": contact_id,
        "channel": "email", "audience_kind": "contacts", "contact_ids": [contact_id],
    }  # fmt: skip
    wrong = {}
    for route in _api_routes():
        if "<" in route:
            continue
        response = marketing_caller.post("/" + route, payload, format="json")
        found = leaks(body(response))
        if response.status_code >= 500 or found:
            wrong[route] = (response.status_code, found)
    assert wrong == {}
