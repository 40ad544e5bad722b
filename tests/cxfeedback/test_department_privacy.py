"""A department learns nothing of another's customers (issue 12, security).

Support (the first department: its owner alice, its API key) and marketing (the second: its owner
mallory, its API key). Marketing attacks; support's customers are the target:

- P, whom only support knows: by email, phone and external id, with support's name, attributes
  and notes for them;
- S, a customer both know: support supplied the email, a phone and an external id, with a name,
  attributes and notes of its own; marketing supplied the same email only, under its own name.

To marketing, P is a person nobody knows: every answer about P (looked up by email, phone,
external id or support's id; upserted, triggered, imported, dry-run, uploaded as an audience)
must be the answer for a stranger nobody knows, same status and same body once the value marketing
sent is put aside. Of S, marketing sees only what it supplied itself. No answer carries anything
of support's view (SECRETS below).

The tests named `test_leak_<n>…` reproduce the issue's "What gets through today" list, a test per
finding (the sixth item holds four); the others sweep every API operation (the OpenAPI schema's list
is checked against OPERATIONS_TESTED) and every admin page that shows contacts or their data.

API ids are taken from the API's answers (only admin addresses use the rows' keys), so the module
reads the same whether an API id is a counter or a random UUID.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern
from django.utils import formats, timezone
from rest_framework.test import APIClient

from contacts.models import Consent, Contact, DepartmentContact, DuplicateSuggestion, Identity
from departments.models import IdempotencyRecord
from results.models import FollowUpRule
from surveys.delivery.sending import invitations_send_batch
from surveys.models import Decision, Invitation
from tests import factories
from tests.import_jobs import admin_job_finished, job_finished

CONTACTS = "/api/v1/contacts"
IMPORT = "/api/v1/contacts/import"
SEND_REQUESTS = "/api/v1/send-requests"

# P: only support knows them.
P_NAME = "Zyxwa Quimbleton"
P_EMAIL = "zyxwa.quimbleton@support-only.example"
P_PHONE = "+49 151 12349876"
P_EXTERNAL = ("crm", "ZYXWA-7")
P_ATTRIBUTES = {"tier": "zyxwa-gold"}
P_NOTES = "zyxwa prefers a call after five"

# S: a customer of both. The email is both departments'; the rest is support's.
S_EMAIL = "kim.customer@shared.example"
S_NAME = "Orvik Thandersen"
S_PHONE = "+49 160 55501234"
S_EXTERNAL = ("crm", "ORVIK-9")
S_ATTRIBUTES = {"tier": "orvik-platinum"}
S_NOTES = "orvik is angry about the invoice"
S_NAME_MARKETING = "Kim from the newsletter"
S_ATTRIBUTES_MARKETING = {"segment": "newsletter"}

# Marketing's own customers, whom support does not know.
OWN_EMAIL = "mia.own@marketing-only.example"
OWN2_EMAIL = "leo.own@marketing-only.example"
OWN2_PHONE = "+49 171 33300066"

# Strangers nobody knows: the honest comparison for anything marketing asks about P.
STRANGER_EMAIL = "nobody.knows@stranger.example"
STRANGER_PHONE = "+49 170 44400077"
STRANGER_EXTERNAL = ("crm", "STRANGER-1")

SUPPORT_SURVEY_NAME = "Zyxwa repair survey"

# Support's alone; none may reach marketing in any form ("alice": support's staff).
SECRETS = (
    "zyxwa", "quimbleton", "support-only.example", "12349876", "orvik", "thandersen", "55501234", "alice",
)  # fmt: skip

# Fields that differ between any two answers (times, the answer's own ids): left out of comparisons.
VOLATILE = {
    "id", "created_at", "updated_at", "planned_at", "decided_at", "submitted_at", "screened_at",
    "cancelled_at", "earliest_send_at", "planned_send_at", "best_send_at", "filename", "contact_ids",
    "url", "completed_at", "send_request",
}  # fmt: skip


def leaks(content: bytes | str, *, echoed: tuple[str, ...] = ()) -> list[str]:
    """Support's secrets in `content`; `echoed`: values the caller itself sent (an answer may repeat them)."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    text = text.lower()
    for value in echoed:
        # As sent, and as a page repeats it: HTML-escaped, or in the query string of its links (twice
        # encoded in the admin's `_changelist_filters`).
        encoded = {quote_plus(value), quote(value)}
        for form in {
            value,
            value.replace(" ", ""),
            html.escape(value),
            *encoded,
            *map(quote, encoded),
            *map(quote_plus, encoded),
        }:
            text = text.replace(form.lower(), "")
    return [secret for secret in SECRETS if secret in text]


def body(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def comparable(value: Any, replacements: dict[str, str]) -> Any:
    """An answer with volatile fields left out and the values the caller sent replaced by placeholders,
    so a probe about support's customer and a question about a stranger can be compared as equal."""
    if isinstance(value, dict):
        return {key: comparable(item, replacements) for key, item in value.items() if key not in VOLATILE}
    if isinstance(value, list):
        return [comparable(item, replacements) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and str(value) in replacements:
        return replacements[str(value)]  # an id the caller sent, echoed as a number
    if isinstance(value, str):
        for sent in sorted(replacements, key=len, reverse=True):
            value = re.sub(rf"(?<!\w){re.escape(sent)}(?!\w)", replacements[sent], value)
    return value


def answer(response, replacements: dict[str, str] | None = None) -> tuple[int, Any]:
    """(status, comparable JSON body) of an API answer."""
    content = response.json() if response.content else None
    return response.status_code, comparable(content, replacements or {})


def placeholders(values) -> dict[str, str]:
    """The values a caller sent, in order, as placeholders "<sent0>", "<sent1>" …: a probe's values and a
    stranger's map to the same ones. A phone also as the API normalises it (E.164)."""
    replacements = {}
    for index, value in enumerate(values):
        replacements[str(value)] = replacements[str(value).replace(" ", "")] = f"<sent{index}>"
    return replacements


def asked(response, values) -> tuple[int, Any]:
    """(status, body) of an answer to a question about `values`, with them as placeholders."""
    return answer(response, placeholders(values))


# ---------------------------------------------------------------------------------------------
# Callers and the world


@dataclass
class Caller:
    """Marketing over the API: its API key, or mallory signed in (who names the department she acts for)."""

    client: APIClient
    department: str | None

    def with_department(self, data: dict) -> dict:
        """`data` naming the department the owner acts for, unless it names one itself."""
        return {"department": self.department, **data} if self.department else data

    def post(self, path: str, data: dict | None = None, **headers):
        return self.client.post(path, self.with_department(data or {}), format="json", **headers)

    def get(self, path: str, query: dict | None = None):
        return self.client.get(path, query or {})

    def upload(self, path: str, text: str, **fields):
        """The answer, or for an import job (202) its state once a worker has run it."""
        data = self.with_department({"file": SimpleUploadedFile("customers.csv", text.encode()), **fields})
        return job_finished(self.client, self.client.post(path, data, format="multipart"))


@pytest.fixture(params=["api_key", "owner"])
def marketing_caller(request, marketing, mallory) -> Caller:
    if request.param == "api_key":
        return Caller(request.getfixturevalue("marketing_api"), None)
    client = APIClient()
    client.force_login(mallory)
    return Caller(client, "marketing")


def identities(email: str | None = None, phone: str | None = None, external=None) -> list[dict]:
    found = [{"kind": "email", "value": email}] if email else []
    found += [{"kind": "phone", "value": phone}] if phone else []
    found += [{"kind": "external", "source": external[0], "value": external[1]}] if external else []
    return found


def upsert(client: APIClient, **fields) -> dict:
    response = client.post(CONTACTS, fields, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


def contact_pk(email: str) -> int:
    """The Contact row of the person with this email (for admin addresses and history)."""
    return Identity.objects.get(kind="email", normalised=email).contact_id


@dataclass
class World:
    p_id: Any  # P's id in support's answers
    s_id: Any  # S's id in support's answers
    s_id_marketing: Any  # S's id in marketing's answers
    own_id: Any  # marketing's own customer
    support_survey: Any
    marketing_survey: Any

    @property
    def p_pk(self) -> int:
        return contact_pk(P_EMAIL)

    @property
    def s_pk(self) -> int:
        return contact_pk(S_EMAIL)


@pytest.fixture
def world(support, marketing, alice, mallory, support_api, marketing_api) -> World:
    """Support's P and S with names, attributes, notes and consent notes; marketing's view of S and
    its own customer. Built through the API, as each department's integration would."""
    p = upsert(
        support_api, identities=identities(P_EMAIL, P_PHONE, P_EXTERNAL), name=P_NAME,
        attributes=P_ATTRIBUTES, notes=P_NOTES, locale="de", time_zone="Europe/Berlin",
    )  # fmt: skip
    s = upsert(
        support_api, identities=identities(S_EMAIL, S_PHONE, S_EXTERNAL), name=S_NAME,
        attributes=S_ATTRIBUTES, notes=S_NOTES, locale="de",
    )  # fmt: skip
    for person, secret in ((p, "zyxwa"), (s, "orvik")):
        recorded = support_api.post(
            f"{CONTACTS}/{person['id']}/consents",
            {
                "kind": "opt_out",
                "department": "support",
                "channel": "sms",
                "note": f"{secret} asked by phone",
            },
            format="json",
        )
        assert recorded.status_code == 201, recorded.content
    s_marketing = upsert(
        marketing_api,
        identities=identities(S_EMAIL),
        name=S_NAME_MARKETING,
        attributes=S_ATTRIBUTES_MARKETING,
    )
    own = upsert(marketing_api, identities=identities(OWN_EMAIL), name="Mia Own")
    upsert(marketing_api, identities=identities(OWN2_EMAIL, OWN2_PHONE), name="Leo Own")
    return World(
        p_id=p["id"],
        s_id=s["id"],
        s_id_marketing=s_marketing["id"],
        own_id=own["id"],
        support_survey=factories.SurveyFactory(department=support, name=SUPPORT_SURVEY_NAME),
        marketing_survey=factories.SurveyFactory(department=marketing, name="Newsletter pulse"),
    )


def missing_id_like(some_id: Any) -> Any:
    """An id of the same type as `some_id` that names nothing."""
    return 2**31 - 7 if isinstance(some_id, int) else str(uuid.uuid4())


# ---------------------------------------------------------------------------------------------
# Contact files: each asks one question about support's book, and the same question about strangers.

# name → (the file, with {0}, {1} … for the values asked about; support's values; a stranger's).
IMPORT_PROBES = {
    "p-email": ("email,name\n{0},Probe\n", [P_EMAIL], [STRANGER_EMAIL]),
    "p-phone": ("phone,name\n{0},Probe\n", [P_PHONE], [STRANGER_PHONE]),
    "p-external": ("external_id,external_source\n{0},crm\n", [P_EXTERNAL[1]], [STRANGER_EXTERNAL[1]]),
    # Does support's phone, external id or tier go with the customer marketing knows by email?
    "s-phone": (f"email,phone\n{S_EMAIL},{{0}}\n", [S_PHONE], [STRANGER_PHONE]),
    "s-external": (
        f"email,external_id,external_source\n{S_EMAIL},{{0}},crm\n",
        [S_EXTERNAL[1]],
        [STRANGER_EXTERNAL[1]],
    ),
    "s-tier": (f"email,attr.tier\n{S_EMAIL},{{0}}\n", [S_ATTRIBUTES["tier"]], ["stranger-value"]),
    # Is P's phone someone's? One identity is one person, so a row joining marketing's customer to
    # P's phone is refused as a conflict (README, "Each department's contact book is its own"). The
    # honest comparison is a conflict inside marketing's own book: the same answer, naming no one.
    "conflict": (f"email,phone\n{OWN_EMAIL},{{0}}\n", [P_PHONE], [OWN2_PHONE]),
}


def import_probe(name: str) -> tuple[str, list[str], str, list[str]]:
    """(support's file, its values, the stranger's file, its values) of IMPORT_PROBES[name]."""
    template, probe_values, stranger_values = IMPORT_PROBES[name]
    return template.format(*probe_values), probe_values, template.format(*stranger_values), stranger_values


# ---------------------------------------------------------------------------------------------
# The nine leaks of the issue: a test per finding, test_leak_<its number in the list><a, b …>


def test_leak_1a_upsert_by_email_answers_201_with_only_what_marketing_sent(world, marketing_caller):
    """Marketing upserts an email only support knows, hoping the answer (200, not 201) says support
    knows the person and carries support's name, attributes and phone — and that the person is then
    marketing's for good, with support's data and consent notes behind GET /contacts/{id}."""
    sent = {"name": "Probe", "attributes": {"probe": "1"}}

    probe = marketing_caller.post(CONTACTS, {"identities": identities(P_EMAIL), **sent})
    stranger = marketing_caller.post(CONTACTS, {"identities": identities(STRANGER_EMAIL), **sent})

    assert asked(probe, [P_EMAIL]) == asked(stranger, [STRANGER_EMAIL])
    assert probe.status_code == 201
    assert not leaks(probe.content, echoed=(P_EMAIL,))
    contact_id = probe.json()["id"]
    read = marketing_caller.get(f"{CONTACTS}/{contact_id}")
    consents = marketing_caller.get(f"{CONTACTS}/{contact_id}/consents")
    assert not leaks(read.content, echoed=(P_EMAIL,))
    assert not leaks(consents.content)
    assert [identity["value"] for identity in read.json()["identities"]] == [P_EMAIL]


def test_leak_1b_a_trigger_by_email_reaches_only_the_address_marketing_gave(world, marketing_caller):
    """Marketing triggers an SMS survey naming a person by the email only support knows: the
    gatekeeper must not send it to the phone support added, nor answer otherwise than for a stranger."""

    def trigger(email: str):
        contact = {"identities": identities(email), "name": "Probe"}
        return marketing_caller.post(
            "/api/v1/triggers", {"survey": world.marketing_survey.pk, "channel": "sms", "contact": contact}
        )

    probe, stranger = trigger(P_EMAIL), trigger(STRANGER_EMAIL)

    assert asked(probe, [P_EMAIL]) == asked(stranger, [STRANGER_EMAIL])
    assert not leaks(probe.content, echoed=(P_EMAIL,))
    assert not Invitation.objects.filter(department__slug="marketing", contact_id=world.p_pk).exists()


@pytest.mark.parametrize("probe_name", IMPORT_PROBES)
def test_leak_2_a_dry_run_import_counts_support_customers_as_strangers(world, marketing_caller, probe_name):
    """Marketing dry-runs files of support's customers' emails, phones, external ids and attribute
    values: nothing is written, but counts that differ from the same file of strangers would say who
    support knows, which phone goes with whom and which values support stored; a conflict would name
    contact ids marketing cannot see."""
    probe_file, probe_values, stranger_file, stranger_values = import_probe(probe_name)

    probe = marketing_caller.upload(IMPORT, probe_file, dry_run="true")
    stranger = marketing_caller.upload(IMPORT, stranger_file, dry_run="true")

    assert probe.status_code == 200, probe.content
    assert asked(probe, probe_values) == asked(stranger, stranger_values)
    assert not leaks(probe.content, echoed=tuple(probe_values))
    named = {str(id_) for issue in probe.json()["issues"] for id_ in issue.get("contact_ids") or []}
    assert not named & {str(world.p_id), str(world.p_pk)}


def test_leak_3a_marketing_cannot_rename_support_customer(world, marketing_caller, support_api):
    """Marketing upserts the shared customer with a name and attributes of its own, hoping to overwrite
    the name and tier support stored for them."""
    renamed = marketing_caller.post(
        CONTACTS,
        {"identities": identities(S_EMAIL), "name": "Renamed by marketing", "attributes": {"tier": "bronze"}},
    )
    assert renamed.status_code == 200, renamed.content

    support_view = support_api.get(f"{CONTACTS}/{world.s_id}").json()
    assert (support_view["name"], support_view["attributes"]) == (S_NAME, S_ATTRIBUTES)


def test_leak_3b_marketing_cannot_opt_support_customer_out_for_everyone(world, marketing_caller, support_api):
    """Marketing records an every-department opt-out "from the unsubscribe link" for the shared
    customer: support's eligibility must not say opted_out, and support's own opt-in must still be
    recorded."""
    opt_out = marketing_caller.post(
        f"{CONTACTS}/{world.s_id_marketing}/consents",
        {"kind": "opt_out", "source": "unsubscribe_link", "department": None},
    )
    assert opt_out.status_code < 500

    assert eligibility(support_api, world.support_survey, world.s_id)["decision"]["reason"] != "opted_out"
    opt_in = support_api.post(
        f"{CONTACTS}/{world.s_id}/consents", {"kind": "opt_in", "department": "support"}, format="json"
    )
    assert opt_in.status_code == 201, opt_in.content


def test_leak_4_an_admin_list_filter_on_support_department_is_like_a_missing_department(
    world, support, mallory_client
):
    """Mallory adds ?department_links__department=<support's id> to the contact list, hoping it lists
    exactly the customers marketing shares with support."""
    missing = support.pk + 10_000
    for parameter in ("department_links__department", "department_links__department__id__exact"):
        probe = listing(mallory_client, "/admin/contacts/contact/", {parameter: support.pk})
        stranger = listing(mallory_client, "/admin/contacts/contact/", {parameter: missing})
        assert probe[0] == stranger[0], parameter


def test_leak_5_other_departments_times_are_no_finer_than_the_hour(
    world, support, marketing, marketing_caller, mallory_client
):
    """Marketing reads next_eligible_at to the microsecond: many of its customers sharing one exact
    value group them by support's send request and give its exact time. Shown to marketing, a time
    set by support's activity is rounded up to the full hour (eligibility, trigger, decisions, admin)."""
    factories.FrequencyRuleFactory(name="Once a month", max_touches=1)
    factories.screened_request(support, survey=world.support_survey)  # support surveys S now

    checked = eligibility(marketing_caller, world.marketing_survey, world.s_id_marketing)["decision"]
    triggered = marketing_caller.post(
        "/api/v1/triggers",
        {
            "survey": world.marketing_survey.pk,
            "channel": "email",
            "contact": {"identities": identities(S_EMAIL)},
        },
    ).json()["decision"]
    factories.screened_request(marketing, survey=world.marketing_survey)
    request_id = marketing_caller.get(SEND_REQUESTS).json()["results"][0]["id"]
    decisions = marketing_caller.get(f"{SEND_REQUESTS}/{request_id}/decisions").json()["results"]

    times = [checked["next_eligible_at"], triggered["next_eligible_at"]]
    times += [decision["next_eligible_at"] for decision in decisions if decision["next_eligible_at"]]
    assert len(times) == 3 and None not in times
    assert [time for time in times if not on_the_hour(time)] == []
    # The admin's list of decisions shows the time as stored, to the minute, unless rounded.
    page = mallory_client.get("/admin/surveys/decision/").content.decode()
    stored = Decision.objects.filter(send_request__department=marketing, contact_id=world.s_pk)
    exact = [d.next_eligible_at for d in stored if d.next_eligible_at and not on_the_hour(d.next_eligible_at)]
    shown = [formats.localize(timezone.template_localtime(time)) for time in exact]
    assert [time for time in shown if time in page] == []


def test_leak_5b_a_blocked_list_names_shared_customers_by_marketings_own_identities(
    world, support, marketing_caller
):
    """Marketing downloads the blocked list of a draft that support's send blocks for the shared
    customer: the line names the customer by marketing's own email, and the time support's send sets
    is rounded up to the full hour; nothing of support's view, identities or send."""
    factories.FrequencyRuleFactory(name="Once a month", max_touches=1)
    factories.screened_request(support, survey=world.support_survey)  # support surveys S now
    draft = marketing_caller.post(
        SEND_REQUESTS,
        {"survey": world.marketing_survey.pk, "channel": "email", "audience_kind": "all_known"},
    )

    listed = marketing_caller.get(f"{SEND_REQUESTS}/{draft.json()['id']}/preflight/blocked")

    text = body(listed).decode("utf-8-sig")
    [line] = [row for row in csv.DictReader(io.StringIO(text)) if row["contact"] == world.s_id_marketing]
    assert (line["identifiers"], line["reason"]) == (S_EMAIL, "rule")
    assert on_the_hour(line["next_eligible_at"])
    assert not leaks(text, echoed=(S_EMAIL,))


def test_leak_6a_support_consent_notes_stay_support_own(world, marketing_caller, mallory_client, alice):
    """Marketing reads the consent records of a shared customer, over the API and in the admin,
    hoping for the notes support's staff wrote (and who wrote them) — including an every-department
    record from the days a department could still record one."""
    Consent.objects.create(
        contact_id=world.s_pk, kind="opt_out", channel="sms", source="admin",
        note="orvik shouted at alice", recorded_by=alice.username,
    )  # fmt: skip

    api = marketing_caller.get(f"{CONTACTS}/{world.s_id_marketing}/consents")
    consents = mallory_client.get("/admin/contacts/consent/")
    contact_page = mallory_client.get(f"/admin/contacts/contact/{world.s_pk}/change/")

    assert api.status_code == 200
    assert not leaks(api.content)
    assert not leaks(consents.content)
    assert not leaks(contact_page.content)


def test_leak_6b_follow_up_rules_do_not_name_support_surveys_to_marketing(world, mallory_client):
    """Mallory opens the follow-up rules a CX lead wrote, hoping to read the names of support's surveys."""
    rule = FollowUpRule.objects.create(
        name="Detractors of one survey", question_kind="nps", max_value=6, survey=world.support_survey
    )

    for url in ("/admin/results/followuprule/", f"/admin/results/followuprule/{rule.pk}/change/"):
        response = mallory_client.get(url)
        assert response.status_code in (200, 404), url
        assert not leaks(response.content), url


def test_leak_6c_a_shared_customer_history_shows_none_of_support_staff_or_actions(
    world, mallory_client, alice
):
    """Mallory opens the admin history of a customer marketing shares with support, hoping to read who
    at support changed what (alice changed the name and attributes and added a phone)."""
    admin_history_entry(alice, world.s_pk, S_NAME, S_PHONE)

    response = mallory_client.get(f"/admin/contacts/contact/{world.s_pk}/history/")

    assert response.status_code in (200, 404)
    assert not leaks(response.content)


def test_leak_6d_ids_in_answers_are_not_counters(world, marketing_caller):
    """Marketing triggers twice, a minute apart, and subtracts the contact and invitation ids it gets
    back, counting the customers and invitations other departments created in between; send request
    and contact ids would tell the same."""

    def trigger(email: str) -> dict:
        return marketing_caller.post(
            "/api/v1/triggers",
            {
                "survey": world.marketing_survey.pk,
                "channel": "email",
                "contact": {"identities": identities(email)},
            },
        ).json()

    first, second = trigger("first.counter@stranger.example"), trigger("second.counter@stranger.example")
    created = marketing_caller.post(
        SEND_REQUESTS, {"survey": world.marketing_survey.pk, "channel": "email", "audience_kind": "all_known"}
    ).json()

    ids = [first["contact"]["id"], second["contact"]["id"], first["invitation"]["id"]]
    ids += [second["invitation"]["id"], created["id"], world.s_id_marketing, world.own_id]
    assert [value for value in ids if not is_random_id(value)] == []


def test_leak_7_erasure_leaves_nothing_in_idempotency_records_or_admin_history(support_api, lead_api, alice):
    """After a CX lead erases a person, support replays its upsert's Idempotency-Key within the day
    (the stored answer held the name, email and attributes); and the admin history still quoted the
    erased email."""
    email = "ebba.erasable@support-only.example"
    sent = {"identities": identities(email), "name": "Ebba Erasable", "attributes": {"tier": "ebba-gold"}}
    first = support_api.post(CONTACTS, sent, format="json", HTTP_IDEMPOTENCY_KEY="erase-me-1")
    assert first.status_code == 201, first.content
    pk = contact_pk(email)
    admin_history_entry(alice, pk, "Ebba Erasable", email)

    erased = lead_api.post(f"{CONTACTS}/{first.json()['id']}/erase")
    assert erased.status_code == 200, erased.content

    stored = json.dumps(list(IdempotencyRecord.objects.values_list("response_body", flat=True)))
    history = list(LogEntry.objects.filter(object_id=str(pk)).values_list("object_repr", "change_message"))
    assert "ebba" not in stored.lower()
    assert "ebba" not in json.dumps(history).lower()
    replay = support_api.post(CONTACTS, sent, format="json", HTTP_IDEMPOTENCY_KEY="erase-me-1")
    if replay.get("Idempotent-Replayed") == "true":
        assert "ebba" not in replay.content.decode().lower()


@pytest.mark.slow
def test_leak_8a_check_deploy_fails_with_provider_webhooks_and_no_webhook_secret():
    """Someone posts an anonymous spam complaint to the email provider's tracking webhook of a
    production deployment without ANYMAIL_WEBHOOK_SECRET, opting a person out of everything; the
    deployment had passed `check --deploy`."""
    from tests.cxfeedback.test_deploy_settings import check_deploy

    result = check_deploy(
        EMAIL_BACKEND="anymail.backends.postmark.EmailBackend", ANYMAIL_POSTMARK_SERVER_TOKEN="server-token"
    )

    assert result.returncode != 0
    assert "WEBHOOK_SECRET" in result.stdout + result.stderr


def test_leak_8b_an_anonymous_complaint_opts_nobody_out(world, client, settings):
    """The same attack in process: without a webhook secret, an unauthenticated Postmark spam
    complaint about a customer's address must not record an every-department opt-out."""
    settings.ANYMAIL = {}
    complaint = {
        "RecordType": "SpamComplaint", "Type": "SpamComplaint", "TypeCode": 512, "ID": 43, "Email": S_EMAIL,
        "BouncedAt": "2026-11-23T10:00:00Z", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79484",
    }  # fmt: skip

    response = client.post(
        "/webhooks/anymail/postmark/tracking/", json.dumps(complaint), content_type="application/json"
    )

    assert response.status_code < 500
    assert not Consent.objects.filter(contact_id=world.s_pk, source="complaint").exists()


def test_leak_9_marketing_import_and_audience_upload_do_not_rename_support_customer(
    world, support, marketing_caller, support_api, settings
):
    """Marketing imports, then uploads as an audience, files naming the shared customer "Noah"
    (the last duplicate row winning): support's view keeps its own name, and support's next
    invitation does not go out as "Hello Noah again,"."""
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = "00:00"
    rows = f"email,name\n{S_EMAIL},Noah\n{S_EMAIL},Noah again\n"
    imported = marketing_caller.upload(IMPORT, rows)
    draft = marketing_caller.post(
        SEND_REQUESTS, {"survey": world.marketing_survey.pk, "channel": "email", "audience_kind": "upload"}
    )
    uploaded = marketing_caller.upload(f"{SEND_REQUESTS}/{draft.json()['id']}/audience", rows)
    assert (imported.status_code, uploaded.status_code) == (200, 200), (imported.content, uploaded.content)

    assert support_api.get(f"{CONTACTS}/{world.s_id}").json()["name"] == S_NAME
    factories.screened_request(support, survey=world.support_survey)
    invitation = Invitation.objects.get(department=support, contact_id=world.s_pk)
    invitations_send_batch(invitation_ids=[invitation.pk])
    (message,) = [message for message in mail.outbox if S_EMAIL in " ".join(message.to)]
    assert "Noah" not in message.body
    assert "Orvik" in message.body


def test_leak_10_a_blackout_tells_marketing_its_kind_and_nothing_else(world, support_api, marketing_caller):
    """Support opens a complaint blackout on the shared customer S, with its own ticket number and
    note: marketing is told "an open complaint" and nothing of whose, which ticket or what about;
    it can neither close support's blackout nor open one on support's customer P, and support's
    ticket number is free for marketing's own (external ids are each department's)."""
    opened = support_api.post(
        "/api/v1/blackouts",
        {
            "external_id": "ZYXWA-TICKET-1",
            "kind": "complaint",
            "contact": {"id": world.s_id},
            "summary": S_NOTES,
        },
        format="json",
    )
    assert opened.status_code == 201, opened.content

    missing = missing_id_like(world.p_id)
    checked = eligibility(marketing_caller, world.marketing_survey, world.s_id_marketing)
    closed = marketing_caller.post("/api/v1/blackouts/ZYXWA-TICKET-1/close", {})
    closed_missing = marketing_caller.post("/api/v1/blackouts/NO-SUCH-TICKET/close", {})
    on_p, on_missing = (
        marketing_caller.post(
            "/api/v1/blackouts", {"external_id": "M-1", "kind": "complaint", "contact": {"id": contact_id}}
        )
        for contact_id in (world.p_id, missing)
    )
    own = marketing_caller.post(
        "/api/v1/blackouts",
        {"external_id": "ZYXWA-TICKET-1", "kind": "ticket", "contact": {"id": world.own_id}},
    )

    assert (checked["decision"]["reason"], checked["decision"]["explanation"]) == (
        "blackout",
        "Blackout: an open complaint.",
    )
    assert leaks(json.dumps(checked)) == []
    assert answer(closed, placeholders(["ZYXWA-TICKET-1"])) == answer(
        closed_missing, placeholders(["NO-SUCH-TICKET"])
    )
    assert closed.status_code == 404
    assert answer(on_p, placeholders([world.p_id])) == answer(on_missing, placeholders([missing]))
    assert on_p.status_code == 404
    assert own.status_code == 201, own.content


# ---------------------------------------------------------------------------------------------
# The API, operation by operation

# Every operation of the OpenAPI schema, and the tests here that attack it.
OPERATIONS_TESTED = {
    "contact_list": [
        "test_lookups_by_identity_find_nothing_of_support",
        "test_no_api_answer_carries_support_view",
    ],
    "contact_upsert": [
        "test_leak_1a_upsert_by_email_answers_201_with_only_what_marketing_sent",
        "test_leak_3a_marketing_cannot_rename_support_customer",
        "test_a_second_lookup_of_one_support_customer_shows_only_what_marketing_sent",
    ],
    "contact_get": [
        "test_support_ids_are_like_missing_ids",
        "test_marketing_sees_only_its_own_view_of_a_shared_customer",
    ],
    "consent_list": [
        "test_support_ids_are_like_missing_ids",
        "test_leak_6a_support_consent_notes_stay_support_own",
    ],
    "consent_record": [
        "test_support_ids_are_like_missing_ids",
        "test_consent_for_support_department_is_like_a_missing_department",
        "test_leak_3b_marketing_cannot_opt_support_customer_out_for_everyone",
    ],
    "contact_erase": ["test_support_ids_are_like_missing_ids"],
    "contact_merge_propose": [
        "test_support_ids_are_like_missing_ids",
        "test_a_merge_proposal_tells_marketing_nothing_of_support",
    ],
    "contact_merge_preview": ["test_support_ids_are_like_missing_ids", "test_merging_is_a_cx_leads_alone"],
    "contact_merge": ["test_support_ids_are_like_missing_ids", "test_merging_is_a_cx_leads_alone"],
    "contact_unmerge": ["test_merging_is_a_cx_leads_alone"],
    "contact_import": [
        "test_leak_2_a_dry_run_import_counts_support_customers_as_strangers",
        "test_an_import_counts_support_customers_as_strangers",
    ],
    "contact_import_detail": ["test_support_import_jobs_are_like_missing_ones"],
    "contact_import_cancel": ["test_support_import_jobs_are_like_missing_ones"],
    "contact_import_resume": ["test_support_import_jobs_are_like_missing_ones"],
    "eligibility_check": [
        "test_eligibility_by_identity_is_404_like_a_stranger",
        "test_a_new_contact_grace_counts_from_when_marketing_met_them",
        "test_support_ids_are_like_missing_ids",
        "test_leak_5_other_departments_times_are_no_finer_than_the_hour",
    ],
    "trigger_create": [
        "test_leak_1b_a_trigger_by_email_reaches_only_the_address_marketing_gave",
        "test_leak_6d_ids_in_answers_are_not_counters",
    ],
    "send_request_list": ["test_no_api_answer_carries_support_view"],
    "send_request_create": [
        "test_an_audience_filter_on_support_attributes_finds_nobody",
        "test_leak_6d_ids_in_answers_are_not_counters",
    ],
    "send_request_get": ["test_no_api_answer_carries_support_view"],
    "send_request_preflight": ["test_an_audience_filter_on_support_attributes_finds_nobody"],
    "send_request_blocked_list": [
        "test_leak_5b_a_blocked_list_names_shared_customers_by_marketings_own_identities",
        "test_no_api_answer_carries_support_view",
    ],
    "send_request_audience_upload": [
        "test_an_audience_upload_counts_support_customers_as_strangers",
        "test_leak_9_marketing_import_and_audience_upload_do_not_rename_support_customer",
        "test_support_audience_uploads_are_like_missing_ones",
    ],
    "send_request_audience_upload_detail": ["test_support_audience_uploads_are_like_missing_ones"],
    "send_request_audience_upload_cancel": ["test_support_audience_uploads_are_like_missing_ones"],
    "send_request_audience_upload_resume": ["test_support_audience_uploads_are_like_missing_ones"],
    "send_request_submit": ["test_no_api_answer_carries_support_view"],
    "send_request_cancel": ["test_no_api_answer_carries_support_view"],
    "send_request_decisions": [
        "test_leak_5_other_departments_times_are_no_finer_than_the_hour",
        "test_no_api_answer_carries_support_view",
    ],
    "send_calendar": ["test_no_api_answer_carries_support_view"],
    "blackout_open": ["test_leak_10_a_blackout_tells_marketing_its_kind_and_nothing_else"],
    "blackout_close": ["test_leak_10_a_blackout_tells_marketing_its_kind_and_nothing_else"],
    "override_list": [
        "test_no_api_answer_carries_support_view",
        "test_support_requests_overrides_are_like_a_missing_request",
    ],
    "override_request": ["test_support_requests_overrides_are_like_a_missing_request"],
    "override_approve": ["test_support_requests_overrides_are_like_a_missing_request"],
    **{
        operation: [
            "test_support_customers_are_strangers_to_external_touches",
            "test_support_external_touches_are_like_missing_ones",
        ]
        for operation in (
            "external_touch_record",
            "external_reservation_create",
            "external_reservation_confirm",
            "external_reservation_cancel",
            "external_response_ingest",
        )
    },
    **{
        operation: ["test_support_touch_imports_are_like_missing_ones"]
        for operation in (
            "external_touch_import",
            "external_touch_import_detail",
            "external_touch_import_cancel",
            "external_touch_import_resume",
        )
    },
    "send_request_approve": ["test_approving_or_rejecting_support_requests_is_like_a_missing_request"],
    "send_request_reject": ["test_approving_or_rejecting_support_requests_is_like_a_missing_request"],
    # Configuration and results: nothing of a contact's in them; swept all the same.
    **{
        operation: ["test_no_api_answer_carries_support_view"]
        for operation in (
            "survey_list",
            "survey_create",
            "survey_get",
            "survey_update",
            "survey_create_from_template",
            "frequency_rule_list",
            "frequency_rule_create",
            "frequency_rule_get",
            "frequency_rule_update",
            "frequency_rule_deactivate",
            "results_response_list",
            "results_summary",
        )
    },
    **{
        operation: ["test_support_export_jobs_are_like_missing_ones"]
        for operation in (
            "results_export_job_create",
            "results_export_job_detail",
            "results_export_job_cancel",
            "results_export_job_download",
        )
    },
    # Rule drafts and simulations: CX leads only, 403 to every department before any lookup; attacked
    # with real ids in tests/surveys/test_rule_simulation.py (test_departments_cannot_reach_…).
    **{
        operation: ["test_no_api_answer_carries_support_view"]
        for operation in (
            "rule_draft_list",
            "rule_draft_create",
            "rule_draft_get",
            "draft_rule_add",
            "draft_rule_update",
            "rule_draft_publish",
            "rule_draft_discard",
            "rule_simulation_start",
            "rule_simulation_get",
        )
    },
}


def test_support_export_jobs_are_like_missing_ones(support, support_api, marketing_api):
    from results.models import ExportJob
    from results.services.export_jobs import export_job_run
    from tests.results.drill import answered, feedback_survey

    answered(feedback_survey(support))
    created = support_api.post("/api/v1/results/export-jobs", {"kind": "responses"}, format="json")
    assert created.status_code == 202
    export_job_run(job_id=ExportJob.objects.get().pk)
    url, missing = created["Location"], f"/api/v1/results/export-jobs/{uuid.uuid4()}"
    for suffix in ("", "/download"):
        theirs, nobodys = marketing_api.get(url + suffix), marketing_api.get(missing + suffix)
        assert theirs.status_code == nobodys.status_code == 404
        assert theirs.json() == nobodys.json()
    theirs, nobodys = marketing_api.post(url + "/cancel"), marketing_api.post(missing + "/cancel")
    assert theirs.status_code == nobodys.status_code == 404 and theirs.json() == nobodys.json()
    assert support_api.get(url).json()["state"] == "done"
    assert support_api.get(url).json()["progress"]["rows_total"] == 1
    # Marketing's own export holds nothing of support's.
    own = marketing_api.post("/api/v1/results/export-jobs", {"kind": "responses"}, format="json")
    export_job_run(job_id=ExportJob.objects.get(public_id=own.json()["id"]).pk)
    assert marketing_api.get(own["Location"]).json()["progress"]["rows_total"] == 0


def test_every_api_operation_is_attacked_here(lead_client):
    schema = lead_client.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    operations = {
        operation["operationId"]
        for methods in json.loads(schema.content)["paths"].values()
        for operation in methods.values()
        if isinstance(operation, dict) and "operationId" in operation
    }

    # A new operation fails here until a test of this module attacks it.
    assert sorted(operations - set(OPERATIONS_TESTED)) == []
    named = {name for names in OPERATIONS_TESTED.values() for name in names}
    assert named - set(globals()) == set()


LOOKUPS = {
    "p-email": ({"email": P_EMAIL}, {"email": STRANGER_EMAIL}),
    "p-phone": ({"phone": P_PHONE}, {"phone": STRANGER_PHONE}),
    "p-external": (
        {"external_id": P_EXTERNAL[1], "external_source": "crm"},
        {"external_id": STRANGER_EXTERNAL[1], "external_source": "crm"},
    ),
    "p-external-any-source": ({"external_id": P_EXTERNAL[1]}, {"external_id": STRANGER_EXTERNAL[1]}),
    # S is marketing's customer too, but by its email only: support's phone, external id and
    # attribute value must not find it.
    "s-phone": ({"phone": S_PHONE}, {"phone": STRANGER_PHONE}),
    "s-external": (
        {"external_id": S_EXTERNAL[1], "external_source": "crm"},
        {"external_id": STRANGER_EXTERNAL[1], "external_source": "crm"},
    ),
    "s-attr": ({"attr.tier": S_ATTRIBUTES["tier"]}, {"attr.tier": "stranger-value"}),
    "s-attributes": ({"attributes__tier": S_ATTRIBUTES["tier"]}, {"attributes__tier": "stranger-value"}),
}


@pytest.mark.parametrize("lookup", LOOKUPS)
def test_lookups_by_identity_find_nothing_of_support(world, marketing_caller, lookup):
    """Marketing lists contacts by support's customers' email, phone, external id or attribute value."""
    probe, control = LOOKUPS[lookup]

    found, stranger = marketing_caller.get(CONTACTS, probe), marketing_caller.get(CONTACTS, control)

    assert found.status_code == 200, found.content
    assert asked(found, probe.values()) == asked(stranger, control.values())
    assert found.json()["results"] == []


def test_support_ids_are_like_missing_ids(world, marketing_caller):
    """Marketing names support's customer P by the id support's API gave it: read, consents,
    consent write, erasure and eligibility answer as for an id that names nobody."""
    missing = missing_id_like(world.p_id)

    def calls(contact_id) -> list:
        return [
            marketing_caller.get(f"{CONTACTS}/{contact_id}"),
            marketing_caller.get(f"{CONTACTS}/{contact_id}/consents"),
            marketing_caller.post(
                f"{CONTACTS}/{contact_id}/consents", {"kind": "opt_out", "department": "marketing"}
            ),
            marketing_caller.post(f"{CONTACTS}/{contact_id}/erase"),
            marketing_caller.post(
                "/api/v1/eligibility",
                {"survey": world.marketing_survey.pk, "channel": "email", "contact": {"id": contact_id}},
            ),
            marketing_caller.post(
                "/api/v1/contacts/merge-proposals", {"contacts": [world.own_id, contact_id], "reason": "same"}
            ),
            *(
                marketing_caller.post(
                    f"/api/v1/contacts/{operation}",
                    {"survivor": world.own_id, "absorbed": contact_id, "reason": "x"},
                )
                for operation in ("merges/preview", "merges")
            ),
        ]

    probes, controls = calls(world.p_id), calls(missing)

    assert [answer(r, placeholders([world.p_id])) for r in probes] == [
        answer(r, placeholders([missing])) for r in controls
    ]
    assert [r.status_code for r in probes] == [404] * len(probes)
    assert [r for r in probes if leaks(r.content)] == []


def test_a_merge_proposal_tells_marketing_nothing_of_support(world, marketing_caller, lead):
    """Marketing proposes that its view of the shared customer S and its own customer are one person:
    the answer is what it sent and "open", whether or not a duplicate search had paired them."""
    body = {"contacts": [world.s_id_marketing, world.own_id], "reason": "Same person, I think"}

    first = marketing_caller.post("/api/v1/contacts/merge-proposals", body)
    assert first.status_code == 201, first.content
    DuplicateSuggestion.objects.update(proposed_by_department=None, score=0.97, evidence={"email": "exact"})
    again = marketing_caller.post("/api/v1/contacts/merge-proposals", body)

    assert first.json() == again.json() == {"contacts": body["contacts"], "status": "open"}
    assert leaks(first.content, echoed=tuple(body["contacts"])) == []


def test_merging_is_a_cx_leads_alone(world, marketing_caller, lead_api):
    """Marketing may not merge, preview or unmerge even its own two customers, nor learn whether a
    merge exists: the same 404 for a merge of support's customers as for a merge id of nobody."""
    pair = {"survivor": world.own_id, "absorbed": world.s_id_marketing, "reason": "x"}
    for operation in ("merges/preview", "merges"):
        assert marketing_caller.post(f"/api/v1/contacts/{operation}", pair).status_code == 403
    merged = lead_api.post(
        "/api/v1/contacts/merges",
        {"survivor": world.p_id, "absorbed": world.s_id, "reason": "x"},
        format="json",
    )
    assert merged.status_code == 201, merged.content
    real, missing = merged.json()["id"], 2**31 - 7

    answers = [
        marketing_caller.post(f"/api/v1/contacts/merges/{merge_id}/unmerge") for merge_id in (real, missing)
    ]

    assert [answer(r, placeholders([pk])) for r, pk in zip(answers, (real, missing), strict=True)] == [
        answer(answers[1], placeholders([missing]))
    ] * 2
    assert answers[0].status_code == 404


def test_marketing_sees_only_its_own_view_of_a_shared_customer(world, marketing_caller):
    """Marketing reads the customer it shares with support: only the email, name and attributes
    marketing supplied, no phone, external id, attribute, note or name of support's."""
    read = marketing_caller.get(f"{CONTACTS}/{world.s_id_marketing}")
    listed = marketing_caller.get(CONTACTS, {"email": S_EMAIL})

    assert read.status_code == 200
    view = read.json()
    assert (view["name"], view["attributes"]) == (S_NAME_MARKETING, S_ATTRIBUTES_MARKETING)
    assert [identity["value"] for identity in view["identities"]] == [S_EMAIL]
    assert [item["id"] for item in listed.json()["results"]] == [world.s_id_marketing]
    assert not leaks(read.content) and not leaks(listed.content)


ELIGIBILITY_LOOKUPS = {
    "p-email": (identities(P_EMAIL), identities(STRANGER_EMAIL)),
    "p-phone": (identities(phone=P_PHONE), identities(phone=STRANGER_PHONE)),
    "p-external": (identities(external=P_EXTERNAL), identities(external=STRANGER_EXTERNAL)),
    "s-phone": (identities(phone=S_PHONE), identities(phone=STRANGER_PHONE)),
    "s-external": (identities(external=S_EXTERNAL), identities(external=STRANGER_EXTERNAL)),
}


@pytest.mark.parametrize("lookup", ELIGIBILITY_LOOKUPS)
def test_eligibility_by_identity_is_404_like_a_stranger(world, marketing_caller, lookup):
    """Marketing asks "may I survey this person?" naming support's customers by an identity support
    supplied."""
    probe, control = ELIGIBILITY_LOOKUPS[lookup]

    found = eligibility(marketing_caller, world.marketing_survey, named=probe, check=False)
    stranger = eligibility(marketing_caller, world.marketing_survey, named=control, check=False)

    values = [identity["value"] for identity in probe]
    assert asked(found, values) == asked(stranger, [identity["value"] for identity in control])
    assert found.status_code == 404
    assert not leaks(found.content, echoed=tuple(values))


def test_a_new_contact_grace_counts_from_when_marketing_met_them(world, marketing_caller):
    """A rule gives new contacts a month's grace. Support has known P for a year; marketing adds P
    by email, then asks whether it may survey them: "allowed, P is not new" would say someone knew
    P before. The answer must be a stranger's: new to marketing, in grace."""
    factories.FrequencyRuleFactory(name="Settle in", max_touches=5, new_contact_grace=dt.timedelta(days=30))
    a_year_ago = timezone.now() - dt.timedelta(days=365)
    Contact.objects.filter(pk=world.p_pk).update(created_at=a_year_ago)
    DepartmentContact.objects.filter(contact=world.p_pk).update(created_at=a_year_ago)
    for email in (P_EMAIL, STRANGER_EMAIL):
        marketing_caller.post(CONTACTS, {"identities": identities(email)})

    probe = eligibility(marketing_caller, world.marketing_survey, named=identities(P_EMAIL), check=False)
    stranger = eligibility(
        marketing_caller, world.marketing_survey, named=identities(STRANGER_EMAIL), check=False
    )

    assert asked(probe, [P_EMAIL]) == asked(stranger, [STRANGER_EMAIL])
    assert probe.json()["decision"]["allowed"] is False


def test_consent_for_support_department_is_like_a_missing_department(world, marketing_caller):
    """Marketing records consent for a shared customer naming support's department."""

    def record(slug: str):
        return marketing_caller.post(
            f"{CONTACTS}/{world.s_id_marketing}/consents", {"kind": "opt_out", "department": slug}
        )

    probe, missing = record("support"), record("no-such-department")

    assert asked(probe, ["support"]) == asked(missing, ["no-such-department"])
    assert probe.status_code in (403, 404)
    assert Consent.objects.filter(contact_id=world.s_pk, department__slug="support").count() == 1  # support's


@pytest.mark.parametrize("probe_name", IMPORT_PROBES)
def test_an_import_counts_support_customers_as_strangers(world, marketing_caller, marketing_api, probe_name):
    """Marketing imports (for real) a file of support's customers: each row counts as it would for
    strangers, and marketing's views afterwards hold only what the file said."""
    probe_file, probe_values, stranger_file, stranger_values = import_probe(probe_name)

    probe = marketing_caller.upload(IMPORT, probe_file)
    stranger = marketing_caller.upload(IMPORT, stranger_file)

    assert probe.status_code == 200 and probe.json()["status"] == "completed", probe.content
    assert asked(probe, probe_values) == asked(stranger, stranger_values)
    for query in ({"email": P_EMAIL}, {"phone": P_PHONE}, {"email": S_EMAIL}):
        listed = marketing_api.get(CONTACTS, query)
        assert not leaks(listed.content, echoed=(*probe_values, *query.values())), query


def test_a_second_lookup_of_one_support_customer_shows_only_what_marketing_sent(world, marketing_caller):
    """Marketing upserts support's customer's email, then (separately) the phone support gave for
    them. One identity is one person for the gatekeeper, so the phone finds the person marketing
    now knows by email (the limit README names: it tells marketing the two go together), but
    nothing of support's: the answer holds only the email and the phone as marketing sent them."""
    by_email = marketing_caller.post(CONTACTS, {"identities": identities(P_EMAIL)})
    by_phone = marketing_caller.post(CONTACTS, {"identities": identities(phone=P_PHONE)})

    assert (by_email.status_code, by_phone.status_code) == (201, 200)
    shown = by_phone.json()
    assert (shown["name"], shown["attributes"], shown["notes"]) == ("", {}, "")
    assert sorted(i["value"] for i in shown["identities"]) == sorted([P_EMAIL, P_PHONE])
    assert not leaks(by_phone.content, echoed=(P_EMAIL, P_PHONE))


def test_an_audience_filter_on_support_attributes_finds_nobody(world, marketing_caller):
    """Marketing creates a filtered send request on support's attribute value and reads its
    pre-flight counts: a count of 1 would say which shared customer support tagged that way."""

    def preflight(value: str):
        created = marketing_caller.post(
            SEND_REQUESTS,
            {"survey": world.marketing_survey.pk, "channel": "email", "audience_kind": "filter",
             "audience_filter": {"tier": value}},
        )  # fmt: skip
        assert created.status_code == 201, created.content
        return marketing_caller.get(f"{SEND_REQUESTS}/{created.json()['id']}/preflight")

    probe, stranger = preflight(S_ATTRIBUTES["tier"]), preflight("stranger-value")

    assert asked(probe, [S_ATTRIBUTES["tier"]]) == asked(stranger, ["stranger-value"])
    assert probe.json()["contacts"] == 0


@pytest.mark.parametrize("probe_name", IMPORT_PROBES)
def test_an_audience_upload_counts_support_customers_as_strangers(world, marketing_caller, probe_name):
    """Marketing uploads support's customers as the audience of a draft: its members and counts must
    read as for strangers."""
    probe_file, probe_values, stranger_file, stranger_values = import_probe(probe_name)

    def upload(text: str):
        draft = marketing_caller.post(
            SEND_REQUESTS,
            {"survey": world.marketing_survey.pk, "channel": "email", "audience_kind": "upload"},
        )
        return marketing_caller.upload(f"{SEND_REQUESTS}/{draft.json()['id']}/audience", text)

    probe, stranger = upload(probe_file), upload(stranger_file)

    assert probe.status_code == 200, probe.content
    assert asked(probe, probe_values) == asked(stranger, stranger_values)
    assert not leaks(probe.content, echoed=tuple(probe_values))


def test_support_audience_uploads_are_like_missing_ones(world, support, marketing_caller, support_api):
    """Support uploads the audience of its draft. Marketing reads, cancels and resumes that upload,
    under support's request and under its own, and uploads to support's request: each answered as
    for a missing one (404), and support's upload is untouched."""
    draft = factories.SendRequestFactory(
        department=support, survey=world.support_survey, audience_kind="upload"
    )
    supports = Caller(support_api, None).upload(
        f"{SEND_REQUESTS}/{draft.public_id}/audience", f"email\n{P_EMAIL}\n"
    )
    assert supports.json()["status"] == "completed", supports.content
    own = marketing_caller.post(
        SEND_REQUESTS, {"survey": world.marketing_survey.pk, "channel": "email", "audience_kind": "upload"}
    ).json()["id"]
    upload_id, missing = supports.json()["id"], uuid.uuid4()

    def calls(request_id, job_id) -> list:
        url = f"{SEND_REQUESTS}/{request_id}/audience/{job_id}"
        return [
            marketing_caller.get(url),
            marketing_caller.post(f"{url}/cancel"),
            marketing_caller.post(f"{url}/resume"),
        ]

    for request_id in (draft.public_id, own):
        probes, controls = calls(request_id, upload_id), calls(request_id, missing)
        assert [answer(r, placeholders([upload_id])) for r in probes] == [
            answer(r, placeholders([missing])) for r in controls
        ]
        assert [r.status_code for r in probes] == [404, 404, 404]
    theirs = marketing_caller.upload(f"{SEND_REQUESTS}/{draft.public_id}/audience", f"email\n{P_EMAIL}\n")
    nobodys = marketing_caller.upload(f"{SEND_REQUESTS}/{missing}/audience", f"email\n{P_EMAIL}\n")
    assert answer(theirs, placeholders([draft.public_id])) == answer(nobodys, placeholders([missing]))
    assert theirs.status_code == 404
    assert support_api.get(supports.json()["url"]).json()["status"] == "completed"


def test_no_api_answer_carries_support_view(world, marketing_caller, support, marketing):
    """Every route of the API, read as marketing with marketing's own ids filled in and every list
    filtered by the shared customer: nothing of support's view in any answer; submitting and
    cancelling marketing's own request neither."""
    factories.FrequencyRuleFactory(name="Once a month", max_touches=1)
    factories.screened_request(support, survey=world.support_survey, purpose="zyxwa follow-up")
    factories.screened_request(marketing, survey=world.marketing_survey)
    request_id = marketing_caller.get(SEND_REQUESTS).json()["results"][0]["id"]
    values = {
        "contact_id": world.s_id_marketing, "send_request_id": request_id,
        "survey_id": world.marketing_survey.pk, "rule_id": factories.FrequencyRuleFactory().pk,
    }  # fmt: skip
    queries = [{}, {"email": S_EMAIL}, {"contact": world.s_id_marketing}, {"phone": S_PHONE}, {"q": "orvik"}]

    wrong = {}
    for route in api_routes():
        path = "/" + PLACEHOLDER.sub(lambda match: str(values.get(match[2], 0)), route)
        for query in queries if "<" not in route else [{}]:
            response = marketing_caller.get(path, query)
            if response.status_code >= 500 or leaks(body(response), echoed=tuple(map(str, query.values()))):
                wrong[f"GET {path} {query}"] = response.status_code
        if route.endswith(("/submit", "/cancel")):
            response = marketing_caller.post(path)
            if response.status_code >= 500 or leaks(body(response)):
                wrong[f"POST {path}"] = response.status_code
    assert wrong == {}


def test_support_requests_overrides_are_like_a_missing_request(world, marketing_caller, lead):
    """Marketing reads, asks for and approves overrides on support's request (one with an override of
    a CX lead's): the answers are those for a request that does not exist."""
    from departments.actors import actor_for_user
    from surveys.gatekeeper.overrides import override_request

    request = factories.SendRequestFactory(
        department=world.support_survey.department, survey=world.support_survey
    )
    override = override_request(actor=actor_for_user(lead), send_request=request, reason="zyxwa outage")

    def calls(request_id) -> list:
        url = f"{SEND_REQUESTS}/{request_id}/overrides"
        return [
            marketing_caller.get(url),
            marketing_caller.post(url, {"reason": "please"}),
            marketing_caller.post(f"{url}/{override.pk}/approve"),
        ]

    probes, controls = calls(request.public_id), calls(missing := uuid.uuid4())

    assert [answer(r, placeholders([request.public_id])) for r in probes] == [
        answer(r, placeholders([missing])) for r in controls
    ]
    assert [r.status_code for r in probes] == [404] * len(probes)
    assert [r for r in probes if leaks(r.content)] == []


def test_approving_or_rejecting_support_requests_is_like_a_missing_request(world, marketing_caller):
    """Marketing approves and rejects support's request awaiting approval: the answers are those for
    a request that does not exist, and the request still waits."""
    request = factories.SendRequestFactory(
        department=world.support_survey.department, survey=world.support_survey, status="awaiting_approval"
    )

    def calls(request_id) -> list:
        return [
            marketing_caller.post(f"{SEND_REQUESTS}/{request_id}/{action}", {"comment": "zyxwa"})
            for action in ("approve", "reject")
        ]

    probes, controls = calls(request.public_id), calls(missing := uuid.uuid4())

    assert [answer(r, placeholders([request.public_id])) for r in probes] == [
        answer(r, placeholders([missing])) for r in controls
    ]
    assert [r.status_code for r in probes] == [404, 404]
    request.refresh_from_db()
    assert request.status == "awaiting_approval"


EXTERNAL_TOUCH = {"survey_kind": "transactional", "channel": "email", "source_tool": "zyxwa-tool"}


def test_support_customers_are_strangers_to_external_touches(world, marketing_caller):
    """Marketing records, reserves and ingests answers for support's customer P, by P's id and by
    identities support supplied: each answer is the one for someone nobody knows."""

    def calls(contact: dict) -> list:
        touch = {**EXTERNAL_TOUCH, "contact": contact, "external_id": "m-1", "at": "2026-03-01T09:00:00Z"}
        return [
            marketing_caller.post("/api/v1/touches", touch),
            marketing_caller.post("/api/v1/touches", {"touches": [touch]}),
            marketing_caller.post("/api/v1/touches/reservations", touch),
            marketing_caller.post(
                "/api/v1/responses", {**touch, "submitted_at": "2026-03-02T09:00:00Z", "answers": {"nps": 2}}
            ),
        ]

    pairs = [
        ([world.p_id], [missing_id_like(world.p_id)], lambda v: {"id": v}),
        ([P_EMAIL], [STRANGER_EMAIL], lambda v: {"identities": identities(v)}),
        ([S_EXTERNAL[1]], [STRANGER_EXTERNAL[1]], lambda v: {"identities": identities(external=("crm", v))}),
    ]
    for probe, control, named in pairs:
        found, stranger = calls(named(probe[0])), calls(named(control[0]))

        assert [asked(r, probe) for r in found] == [asked(r, control) for r in stranger]
        assert [r.status_code for r in found] == [404] * len(found)
        assert [r for r in found if leaks(r.content, echoed=tuple(map(str, probe)))] == []
    assert not Invitation.objects.filter(department__slug="marketing").exists()


def test_support_external_touches_are_like_missing_ones(world, marketing_caller, support_api):
    """Support records a touch of its tool for the shared customer S and reserves a slot for P.
    Marketing confirms and cancels support's reservation (404 like a missing one), replays support's
    tool and external id for its own view of S (its own new touch, not support's), and asks about S:
    "another department", without the tool, its id or the time finer than the hour."""
    factories.FrequencyRuleFactory(name="Once a month", max_touches=1)
    at = (timezone.now() - dt.timedelta(days=2)).replace(minute=17, second=0, microsecond=0)
    touch = {**EXTERNAL_TOUCH, "external_id": "zyxwa-77", "at": at.isoformat()}
    recorded = support_api.post("/api/v1/touches", {**touch, "contact": {"id": world.s_id}}, format="json")
    assert recorded.status_code == 201, recorded.content
    reserved = support_api.post(
        "/api/v1/touches/reservations", {**EXTERNAL_TOUCH, "contact": {"id": world.p_id}}, format="json"
    ).json()["reservation"]

    def calls(reservation_id) -> list:
        url = f"/api/v1/touches/reservations/{reservation_id}"
        return [marketing_caller.post(f"{url}/confirm"), marketing_caller.post(f"{url}/cancel")]

    probes, controls = calls(reserved["id"]), calls(missing := uuid.uuid4())
    assert [answer(r, placeholders([reserved["id"]])) for r in probes] == [
        answer(r, placeholders([missing])) for r in controls
    ]
    assert [r.status_code for r in probes] == [404, 404]
    assert Invitation.objects.get(external_touch__public_id=reserved["id"]).status == "queued"

    asked_about_s = marketing_caller.post(
        "/api/v1/eligibility",
        {"survey_kind": "relationship", "channel": "email", "contact": {"id": world.s_id_marketing}},
    ).json()["decision"]
    assert (asked_about_s["reason"], asked_about_s["next_eligible_at"][14:19]) == ("rule", "00:00")
    assert "by another department" in asked_about_s["explanation"]
    replay = marketing_caller.post("/api/v1/touches", {**touch, "contact": {"id": world.s_id_marketing}})
    assert replay.status_code == 201 and replay.json()["id"] != recorded.json()["id"]
    assert replay.json()["created"] is True
    assert not leaks(replay.content, echoed=("zyxwa-tool", "zyxwa-77"))
    assert not leaks(json.dumps(asked_about_s))


# ---------------------------------------------------------------------------------------------
# The admin, page by page


ADMIN_SEARCHES = [
    # (support's, a stranger's)
    (P_NAME, "Nobody Known"), (P_EMAIL, STRANGER_EMAIL), (P_PHONE, STRANGER_PHONE),
    (P_EXTERNAL[1], STRANGER_EXTERNAL[1]), (S_NAME, "Nobody Known"), (S_PHONE, STRANGER_PHONE),
    (S_EXTERNAL[1], STRANGER_EXTERNAL[1]), ("orvik", "nobodyknows"), (S_NOTES, "nobody knows this note"),
    (SUPPORT_SURVEY_NAME, "Nobody's survey"),
]  # fmt: skip


def test_admin_search_finds_support_customers_nowhere(world, mallory_client):
    """Mallory types support's customers' names, emails, phones, external ids and notes into every
    admin search box: each finds what a stranger's would."""
    wrong = {}
    for url in admin_changelists():
        for probe, control in ADMIN_SEARCHES:
            (found, page), (stranger, _) = (
                listing(mallory_client, url, {"q": probe}),
                listing(mallory_client, url, {"q": control}),
            )
            if found != stranger or leaks(page, echoed=(probe,)):
                wrong[f"{url}?q={probe}"] = (found, stranger)
    assert wrong == {}


def test_admin_list_filters_on_support_department_are_like_a_missing_department(
    world, support, mallory_client
):
    """Every department list filter of every admin list, given support's id by hand in the query string."""
    missing = support.pk + 10_000
    wrong = {}
    for url, parameters in department_filter_parameters().items():
        for parameter in parameters:
            probe = listing(mallory_client, url, {parameter: support.pk})[0]
            stranger = listing(mallory_client, url, {parameter: missing})[0]
            if probe != stranger:
                wrong[f"{url}?{parameter}"] = (probe, stranger)
    assert wrong == {}


def test_admin_autocomplete_finds_support_customers_nowhere(world, mallory_client):
    """Every autocomplete of the admin, typed support's customers' names and identities."""
    wrong = {}
    for model, model_admin in admin.site._registry.items():
        for field_name in model_admin.autocomplete_fields:
            for term in ("orvik", P_EMAIL, S_PHONE, "zyxwa", "alice"):
                response = mallory_client.get(
                    "/admin/autocomplete/",
                    {"app_label": model._meta.app_label, "model_name": model._meta.model_name,
                     "field_name": field_name, "term": term},
                )  # fmt: skip
                results = response.json().get("results", []) if response.status_code == 200 else []
                if results or leaks(body(response), echoed=(term,)):
                    wrong[f"{model._meta.label} {field_name} {term}"] = results
    assert wrong == {}


def test_admin_pages_marketing_sees_show_nothing_of_support_view(
    world, support, marketing, mallory, mallory_client, alice
):
    """Every admin list, add page, and the change and history page of every object mallory may open,
    after both departments surveyed the shared customer, support recorded consent with notes, changed
    the customer in the admin, and a CX lead wrote a follow-up rule for support's survey."""
    factories.FrequencyRuleFactory(name="Once a month", max_touches=1)
    factories.screened_request(support, survey=world.support_survey, purpose="zyxwa follow-up")
    factories.screened_request(marketing, survey=world.marketing_survey)
    FollowUpRule.objects.create(
        name="Detractors", question_kind="nps", max_value=6, survey=world.support_survey
    )
    admin_history_entry(alice, world.s_pk, S_NAME, S_PHONE)

    wrong = {}
    for url in admin_pages_of(mallory):
        response = mallory_client.get(url)
        found = leaks(body(response))
        if response.status_code >= 500 or found:
            wrong[url] = (response.status_code, found)
    assert wrong == {}


def test_support_import_jobs_are_like_missing_ones(world, marketing_caller, support_api):
    """Marketing reads, cancels and resumes support's import job by its id, hoping the answers differ
    from those for an id that does not exist (and that the cancel stops support's import)."""
    queued = support_api.post(IMPORT, {"file": SimpleUploadedFile("c.csv", f"email\n{P_EMAIL}\n".encode())})
    assert queued.status_code == 202, queued.content
    support_id = queued.json()["id"]
    missing_id = support_id + 1000

    for suffix in ("", "/cancel", "/resume"):
        call = marketing_caller.client.get if not suffix else marketing_caller.client.post
        theirs = call(f"/api/v1/contacts/imports/{support_id}{suffix}")
        missing = call(f"/api/v1/contacts/imports/{missing_id}{suffix}")
        assert theirs.status_code == 404, (suffix, theirs.content)
        assert answer(theirs) == answer(missing), suffix
        assert not leaks(theirs.content)
    assert support_api.get(f"/api/v1/contacts/imports/{support_id}").json()["status"] == "queued"


@pytest.mark.parametrize("probe_name", IMPORT_PROBES)
def test_admin_import_preview_counts_support_customers_as_strangers(
    world, marketing, mallory_client, settings, tmp_path, probe_name
):
    """Mallory previews (the admin's dry run) files of support's customers."""
    settings.CONTACT_IMPORT_DIR = tmp_path / "imports"
    probe_file, probe_values, stranger_file, _ = import_probe(probe_name)

    def preview(text: str) -> tuple[list, str]:
        upload = SimpleUploadedFile("customers.csv", text.encode())
        response = mallory_client.post(
            "/admin/contacts/contact/import/", {"department": marketing.pk, "file": upload}
        )
        page = admin_job_finished(mallory_client, response).content.decode()
        return re.findall(r"<th[^>]*>([^<]+)</th>\s*<td>(\d+)<", page), page

    (probe, page), (stranger, _) = preview(probe_file), preview(stranger_file)

    assert probe, page[:2000]  # the counts table was found
    assert probe == stranger
    assert not leaks(page, echoed=tuple(probe_values))


def test_admin_identity_form_says_nothing_about_support_identities(world, mallory_client):
    """Mallory adds support's customer's phone to marketing's own customer on its admin page. One
    identity is one person, so it is refused; the refusal must read exactly as for the phone of
    another of marketing's own customers, and name no one."""
    url = f"/admin/contacts/contact/{contact_pk(OWN_EMAIL)}/change/"

    def add_phone(phone: str) -> tuple[int, list[str]]:
        page = mallory_client.get(url)
        assert page.status_code == 200
        data = form_data(page.content.decode())
        index = int(data["identities-TOTAL_FORMS"])
        data |= {f"identities-{index}-kind": "phone", f"identities-{index}-value": phone,
                 f"identities-{index}-source": "", "identities-TOTAL_FORMS": str(index + 1)}  # fmt: skip
        response = mallory_client.post(url, data)
        errors = re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.content.decode(), re.S)
        return response.status_code, comparable(errors, placeholders([phone]))

    if "identities-TOTAL_FORMS" not in mallory_client.get(url).content.decode():
        pytest.skip("the contact page has no identity inline to add to")
    assert add_phone(P_PHONE) == add_phone(OWN2_PHONE)


# ---------------------------------------------------------------------------------------------
# Helpers


def eligibility(caller, survey, contact_id=None, *, named=None, check=True):
    """POST /eligibility for `survey` by email, naming the contact by id or by identities; `caller` is a
    Caller or a plain client (an API key)."""
    client = caller.client if isinstance(caller, Caller) else caller
    reference = {"identities": named} if named else {"id": contact_id}
    data = {"survey": survey.pk, "channel": "email", "contact": reference}
    if isinstance(caller, Caller):
        data = caller.with_department(data)
    response = client.post("/api/v1/eligibility", data, format="json")
    if not check:
        return response
    assert response.status_code == 200, response.content
    return response.json()


def on_the_hour(value: str | dt.datetime) -> bool:
    moment = (
        value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    )
    return (moment.minute, moment.second, moment.microsecond) == (0, 0, 0)


def is_random_id(value: Any) -> bool:
    """A UUID that is not a counter, as the API gives it: a string. Random (version 4), or
    time-ordered (version 7: the time it was made, then 74 random bits), so two of them tell
    nothing of the rows made between them."""
    if not isinstance(value, str):
        return False
    try:
        return uuid.UUID(value).version in (4, 7)
    except ValueError:
        return False


def admin_history_entry(user, pk: int, name: str, identity: str) -> LogEntry:
    """What the admin recorded when `user` changed contact `pk`'s name and attributes and added
    `identity` on its page."""
    return LogEntry.objects.create(
        user=user,
        content_type=ContentType.objects.get_for_model(Contact),
        object_id=str(pk),
        object_repr=name,
        action_flag=CHANGE,
        change_message=json.dumps(
            [
                {"changed": {"fields": ["Name", "Attributes"]}},
                {"added": {"name": "identity", "object": identity}},
            ]
        ),
    )


def listing(client, url: str, query: dict) -> tuple[tuple[int, int | None], str]:
    """((status, rows listed), page) of an admin list: what a filter or search tells the one looking."""
    response = client.get(url, query)
    page = body(response).decode("utf-8", "replace")
    if response.status_code == 302 and "e=1" in response.get("Location", ""):
        return (400, None), page  # the admin's "invalid lookup" redirect: refused
    if response.status_code != 200:
        return (response.status_code, None), page
    changelist = response.context["cl"] if response.context and "cl" in response.context else None
    return (200, changelist.result_count if changelist is not None else None), page


def admin_changelists() -> list[str]:
    return [f"/admin/{m._meta.app_label}/{m._meta.model_name}/" for m in admin.site._registry]


def department_filter_parameters() -> dict[str, list[str]]:
    """Each admin list → the query parameters of its department filters (by hand, with and without
    the filter's own `__id__exact`)."""
    parameters = {}
    for model, model_admin in admin.site._registry.items():
        paths = [spec[0] if isinstance(spec, tuple) else spec for spec in model_admin.list_filter]
        paths = [p for p in paths if isinstance(p, str) and p.split("__")[-1] == "department"]
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        if model is Contact:
            paths.append("department_links__department")  # the issue's own example
        if paths:
            parameters[url] = sorted({name for p in paths for name in (p, f"{p}__id__exact")})
    return parameters


def admin_pages_of(user) -> list[str]:
    """Every admin list and add page, and the change and history page of every object `user` may see."""
    request = RequestFactory().get("/admin/")
    request.user = user
    pages = ["/admin/"]
    for model, model_admin in admin.site._registry.items():
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        pages += [base, f"{base}add/"]
        for pk in model_admin.get_queryset(request).values_list("pk", flat=True)[:50]:
            pages += [f"{base}{pk}/change/", f"{base}{pk}/history/"]
    return pages


PLACEHOLDER = re.compile(r"<(?:(\w+):)?(\w+)>")


def _patterns(resolver: URLResolver, prefix: str = ""):
    for entry in resolver.url_patterns:
        if not isinstance(entry.pattern, RoutePattern):
            continue
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, route)
        elif isinstance(entry, URLPattern):
            yield route


def api_routes() -> list[str]:
    routes = [route for route in _patterns(get_resolver()) if route.startswith("api/v1/")]
    assert any(route.startswith("api/v1/contacts/<") for route in routes)  # the enumeration works
    return routes


class _FormParser(HTMLParser):
    """The values a browser would send for the first form with method=post on a page."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "file", "checkbox"):
            self.data[name] = attrs.get("value") or ""
        elif tag == "input" and name and attrs.get("type") == "checkbox" and "checked" in attrs:
            self.data[name] = attrs.get("value") or "on"
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in attrs:
            self.data[self._select] = attrs.get("value") or ""
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data


def form_data(page: str) -> dict[str, str]:
    parser = _FormParser()
    parser.feed(page)
    return parser.data


def _touch_import_finished(caller: Caller, text: str):
    """POST /touches/imports as `caller`, then the job's state once a worker has run it."""
    from surveys.external.imports import touch_import_run
    from surveys.models import TouchImport

    data = caller.with_department({"file": SimpleUploadedFile("touches.csv", text.encode())})
    response = caller.client.post("/api/v1/touches/imports", data, format="multipart")
    assert response.status_code == 202, response.content
    touch_import_run(job_id=TouchImport.objects.get(public_id=response.json()["id"]).pk)
    return caller.client.get(response["Location"])


TOUCH_CSV = (
    "external_id,source_tool,survey_kind,channel,at,email\n"
    "zyxwa-1,zyxwa-tool,relationship,email,{at},{email}\n"
)


def test_support_touch_imports_are_like_missing_ones(
    world, marketing_caller, support_api, settings, tmp_path
):
    """Support imports a touch of its tool for P. Marketing reads, cancels and resumes support's
    import (404 like a missing one), and imports a touch naming P by support's email: refused with
    the words a stranger's email gets, nothing recorded."""
    settings.CONTACT_IMPORT_DIR = tmp_path
    at = (timezone.now() - dt.timedelta(days=2)).isoformat()
    supports = _touch_import_finished(
        Caller(support_api, None), TOUCH_CSV.format(at=at, email=P_EMAIL)
    ).json()
    assert supports["counts"]["recorded"] == 1, supports

    def calls(import_id) -> list:
        url = f"/api/v1/touches/imports/{import_id}"
        return [
            marketing_caller.get(url),
            marketing_caller.post(f"{url}/cancel"),
            marketing_caller.post(f"{url}/resume"),
        ]

    probes, controls = calls(supports["id"]), calls(missing := uuid.uuid4())
    assert [answer(r, placeholders([supports["id"]])) for r in probes] == [
        answer(r, placeholders([missing])) for r in controls
    ]
    assert [r.status_code for r in probes] == [404, 404, 404]

    def rows(email: str) -> tuple:
        job = _touch_import_finished(marketing_caller, TOUCH_CSV.format(at=at, email=email)).json()
        return job["counts"], job["issues"]

    assert rows(P_EMAIL) == rows(STRANGER_EMAIL)
    assert rows(P_EMAIL)[0] == {"recorded": 0, "replayed": 0, "rejected": 1}


def test_support_accounts_are_invisible_to_marketing(world, marketing_caller, support_api):
    """Support puts P and S in its account. Marketing lists the account (nobody), sees no account on
    its view of S, and naming the same account for its own customer answers as naming a new one."""
    for email in (P_EMAIL, S_EMAIL):
        upsert(support_api, identities=identities(email), account="zyxwa-account-1")

    listed = marketing_caller.get("/api/v1/contacts", {"account": "zyxwa-account-1"})
    stranger_listed = marketing_caller.get("/api/v1/contacts", {"account": "never-named-account"})
    seen_s = marketing_caller.get(f"/api/v1/contacts/{world.s_id_marketing}").json()
    named = marketing_caller.post(
        "/api/v1/contacts", {"identities": identities(S_EMAIL), "account": "zyxwa-account-1"}
    )
    new = marketing_caller.post(
        "/api/v1/contacts", {"identities": identities(S_EMAIL), "account": "new-account-2"}
    )

    assert answer(listed) == answer(stranger_listed)
    assert seen_s["account"] is None
    assert named.status_code == new.status_code == 200
    assert named.json()["account"] == "zyxwa-account-1" and new.json()["account"] == "new-account-2"
    assert "zyxwa" not in json.dumps(listed.json()) + json.dumps(seen_s)
