"""SQL and HTML injection strings in every text field (reliability/bad_input.py, check 5): each is
sent through the API or the customer's page, read back (API and database) equal to what was sent,
and shown escaped on the public survey page and the admin's change pages.

Also builds what the checks need and HTTP cannot make: personal links (an open and an expired
invitation) and an admin login."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reliability.bad_input import Client, PublicLinks

# What a browser would run if a payload were rendered raw. Escaped, `<` is `&lt;` and none appears.
RAW_MARKUP = re.compile(r"<script>alert\('cxf'\)|<img src=x onerror", re.IGNORECASE)


def public_links_create(*, department_slug: str) -> PublicLinks:
    from django.contrib.auth import get_user_model

    from contacts.models import Contact, DepartmentContact
    from departments.models import Department
    from reliability.bad_input import PublicLinks
    from surveys.models import Invitation, SendRequest

    department = Department.objects.get(slug=department_slug)
    survey = _survey_create(department, name="Bad input", question="Anything else?")
    # Objects of the check's own for the operations that take an id, known to the department so the
    # body, not a 404, is what gets judged; a draft request on the audience-upload (multipart) route.
    contact = Contact.objects.create(name="Bad input", locale="en")
    DepartmentContact.objects.create(
        department=department, contact=contact, source=DepartmentContact.Source.API
    )
    draft = SendRequest.objects.create(
        department=department, survey=survey, channel="email", audience_kind="upload"
    )
    open_token = _invitation_create(survey, status=Invitation.Status.SENT, contact=contact)
    expired_token = _invitation_create(survey, status=Invitation.Status.EXPIRED, expired=True)
    username, password = f"bad-input-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(16)
    get_user_model().objects.create_superuser(username=username, password=password, email="")
    return PublicLinks(
        open_token=open_token,
        expired_token=expired_token,
        survey_id=survey.pk,
        contact_id=str(contact.public_id),
        draft_send_request_id=str(draft.public_id),
        department_slug=department_slug,
        admin_username=username,
        admin_password=password,
    )


def _survey_create(department, *, name: str, question: str):
    from surveys.models import Question, Survey

    survey = Survey.objects.create(department=department, name=name, kind="transactional")
    Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
    survey.family_id = survey.pk
    Question.objects.create(survey=survey, position=1, kind="free_text", text=question, required=False)
    return survey


def _invitation_create(survey, *, status: str, expired: bool = False, contact=None) -> str:
    """A sent invitation of `survey` (to a new contact unless given) and its token, as delivery leaves it."""
    from django.utils import timezone

    from contacts.models import Contact
    from surveys.delivery.tokens import token_new
    from surveys.models import Invitation, InvitationToken, SendRequest

    now = timezone.now()
    contact = contact or Contact.objects.create(name="Bad input", locale="en")
    request = SendRequest.objects.create(
        department=survey.department,
        survey=survey,
        channel="email",
        audience_kind="trigger",
        status="sending",
    )
    invitation = Invitation.objects.create(
        send_request=request,
        survey=survey,
        survey_family_id=survey.family_id or survey.pk,
        department=survey.department,
        survey_kind=survey.kind,
        contact=contact,
        channel="email",
        status=status,
        touched_at=now,
        sent_at=now,
        expires_at=now - dt.timedelta(days=1) if expired else now + dt.timedelta(days=14),
    )
    token, hashed = token_new()
    InvitationToken.objects.create(invitation=invitation, token_hash=hashed)
    return token


def injection_run(client: Client, links: PublicLinks, payloads: list[str]) -> None:
    admin = _AdminPages(client, links)
    for payload in payloads:
        contact_id = _contact_round_trip(client, payload)
        survey_id = _survey_round_trip(client, payload)
        send_request_id = _send_request_round_trip(client, payload, survey_id)
        response_id = _answer_round_trip(client, payload, survey_id)
        for page, object_id in (
            ("contacts/contact", contact_id),
            ("surveys/survey", survey_id),
            ("surveys/sendrequest", send_request_id),
            ("surveys/response", response_id),
        ):
            if object_id is not None:
                admin.check(f"/admin/{page}/{object_id}/change/", payload)


def _same(client: Client, what: str, sent, stored) -> None:
    if sent != stored:
        client.fail(f"injection {what}: stored {stored!r}, sent {sent!r}")


def _contact_round_trip(client: Client, payload: str) -> int | None:
    from contacts.models import DepartmentContact

    email = f"inject-{uuid.uuid4().hex[:12]}@example.com"
    body = {
        "identities": [
            {"kind": "external", "source": "crm", "value": payload},
            {"kind": "email", "value": email},
        ],
        "name": payload[:200],
        "attributes": {"note": payload, payload: "key"},
    }
    created = client.send("POST", "/api/v1/contacts", label="injection contact", allowed=(201,), json=body)
    if created is None:
        return None
    contact_id = created.json()["id"]
    read = client.send(
        "GET", f"/api/v1/contacts/{contact_id}", label="injection contact read", allowed=(200,)
    )
    if read is not None:
        data = read.json()
        _same(client, "contact name (API)", body["name"], data["name"])
        _same(client, "contact attributes (API)", body["attributes"], data["attributes"])
        values = {i["value"] for i in data["identities"] if i["kind"] == "external"}
        _same(client, "contact external id (API)", {payload}, values)
    stored = DepartmentContact.objects.get(contact__public_id=contact_id)  # the department's view
    _same(client, "contact name (database)", body["name"], stored.name)
    _same(client, "contact attributes (database)", body["attributes"], stored.attributes)
    return stored.contact_id  # the admin names it by key


def _survey_round_trip(client: Client, payload: str) -> int | None:
    body = {
        "name": payload[:200],
        "intro": payload,
        "questions": [
            {"kind": "free_text", "text": payload, "help_text": payload, "required": False},
            {"kind": "single_choice", "text": payload, "choices": [payload, payload + " (2)"]},
        ],
    }
    created = client.send("POST", "/api/v1/surveys", label="injection survey", allowed=(201,), json=body)
    if created is None:
        return None
    survey_id = created.json()["id"]
    read = client.send("GET", f"/api/v1/surveys/{survey_id}", label="injection survey read", allowed=(200,))
    if read is not None:
        data = read.json()
        _same(client, "survey name", body["name"], data["name"])
        _same(client, "survey intro", body["intro"], data["intro"])
        for sent, stored in zip(body["questions"], data["questions"], strict=True):
            _same(client, "question text", sent["text"], stored["text"])
            _same(client, "question choices", sent.get("choices", []), stored["choices"])
        _same(client, "question help text", payload, data["questions"][0]["help_text"])
    return survey_id


def _send_request_round_trip(client: Client, payload: str, survey_id: int | None) -> int | None:
    from surveys.models import SendRequest

    if survey_id is None:
        return None
    body = {"survey": survey_id, "channel": "email", "audience_kind": "all_known", "purpose": payload}
    created = client.send(
        "POST", "/api/v1/send-requests", label="injection send request", allowed=(201,), json=body
    )
    if created is None:
        return None
    send_request_id = created.json()["id"]
    read = client.send(
        "GET", f"/api/v1/send-requests/{send_request_id}", label="injection send request read", allowed=(200,)
    )
    if read is not None:
        _same(client, "send request purpose", payload, read.json()["purpose"])
    return SendRequest.objects.get(public_id=send_request_id).pk  # the admin names it by key


def _answer_round_trip(client: Client, payload: str, survey_id: int | None) -> int | None:
    """The customer's side: the survey page shows the payload escaped, and a free-text answer with
    it is stored verbatim."""
    from reliability.bad_input import csrf_material
    from surveys.models import Answer, Invitation, Survey

    if survey_id is None:
        return None
    token = _invitation_create(Survey.objects.get(pk=survey_id), status=Invitation.Status.SENT)
    page = client.send(
        "GET", f"/t/{token}", label="injection survey page", allowed=(200,), api=False, auth=False
    )
    if page is not None and RAW_MARKUP.search(page.text):
        client.fail(f"injection survey page: {payload!r} rendered unescaped")
    csrf = csrf_material(client, f"/t/{token}")
    submitted = client.send(
        "POST",
        f"/t/{token}",
        label="injection answer",
        allowed=(303,),
        api=False,
        auth=False,
        data={"q1": payload, "q2": payload, **csrf.fields},
        headers=csrf.headers,
        allow_redirects=False,
    )
    if submitted is None:
        return None
    answers = Answer.objects.filter(response__invitation__status="answered", response__survey_id=survey_id)
    stored = dict(answers.values_list("question__position", "value_text"))
    _same(client, "free-text answer", payload, stored.get(1))
    choices = answers.filter(question__position=2).values_list("value_choices", "value_text").first()
    if choices is not None and payload not in (choices[1], *(choices[0] or [])):
        client.fail(f"injection choice answer: stored {choices!r}, sent {payload!r}")
    thanks = client.send(
        "GET", f"/t/{token}/thanks", label="injection thanks page", allowed=(200,), api=False, auth=False
    )
    if thanks is not None and RAW_MARKUP.search(thanks.text):
        client.fail(f"injection thanks page: {payload!r} rendered unescaped")
    response = answers.values_list("response_id", flat=True).first()
    return response


class _AdminPages:
    """A signed-in admin session. The cookies are Secure outside DEBUG, which a client keeps from a
    plain-HTTP server, so they are sent by hand."""

    def __init__(self, client: Client, links: PublicLinks):
        self.client = client
        self.cookies: dict[str, str] = {}
        login = client.send(
            "GET", "/admin/login/", label="admin login page", allowed=(200,), api=False, auth=False
        )
        if login is None:
            return
        self.cookies.update(login.cookies.get_dict())
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
        answer = client.send(
            "POST",
            "/admin/login/",
            label="admin login",
            allowed=(302,),
            api=False,
            auth=False,
            data={
                "username": links.admin_username,
                "password": links.admin_password,
                "csrfmiddlewaretoken": token.group(1) if token else "",
                "next": "/admin/",
            },
            headers={"Cookie": self._cookie_header(), "Referer": client.base_url + "/admin/login/"},
            allow_redirects=False,
        )
        if answer is not None:
            self.cookies.update(answer.cookies.get_dict())

    def _cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def check(self, path: str, payload: str) -> None:
        if "sessionid" not in self.cookies:
            return  # the login failed, and said so
        page = self.client.send(
            "GET",
            path,
            label=f"injection admin {path}",
            allowed=(200,),
            api=False,
            auth=False,
            headers={"Cookie": self._cookie_header()},
            allow_redirects=False,
        )
        if page is not None and RAW_MARKUP.search(page.text):
            self.client.fail(f"injection admin {path}: {payload!r} rendered unescaped")
