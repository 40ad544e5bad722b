"""REST API v1 for contacts. Thin: parse, call one selector or service, shape the answer.

Two routes serve two operations each (GET lists, POST creates); each operation is its own class and
the route's class combines them, so a side-effecting operation stays one view.
"""

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from contacts.api.serializers import (
    ConsentOutputSerializer,
    ConsentRecordInputSerializer,
    ContactOutputSerializer,
    ContactUpsertInputSerializer,
)
from contacts.consent_services import consent_record
from contacts.models import DepartmentContact
from contacts.selectors import consent_list, contact_get, contact_list
from contacts.services import contact_upsert
from cxfeedback.api import paginated
from cxfeedback.exceptions import error_responses
from cxfeedback.idempotency import HEADER_PARAMETER, idempotent
from cxfeedback.parsers import JSONParser
from departments.actors import actor_for_request
from departments.api import acting_department
from departments.selectors import department_get

CONTACT_FILTER_PARAMETERS = [
    OpenApiParameter(
        "email", OpenApiTypes.STR, description="Contacts with this email (compared normalised)."
    ),
    OpenApiParameter(
        "phone", OpenApiTypes.STR, description="Contacts with this phone number (compared in E.164)."
    ),
    OpenApiParameter("external_id", OpenApiTypes.STR, description="Contacts with this external id."),
    OpenApiParameter(
        "external_source", OpenApiTypes.STR, description="Limits external_id to one source system."
    ),
    OpenApiParameter(
        "account", OpenApiTypes.STR, description="Contacts in the account with this external id."
    ),
    OpenApiParameter("created_after", OpenApiTypes.DATETIME, description="Created at or after this time."),
    OpenApiParameter("created_before", OpenApiTypes.DATETIME, description="Created before this time."),
    OpenApiParameter(
        "attr.{key}",
        OpenApiTypes.STR,
        description="Attribute filter, such as attr.tier=gold (or attributes__tier=gold). "
        "Repeat with other keys to narrow further.",
    ),
]


UPSERT_EXAMPLES = [
    OpenApiExample(
        "A person at a customer company",
        request_only=True,
        value={
            "identities": [{"kind": "email", "value": "ana@acme.example.com"}],
            "name": "Ana Lima",
            "account": "CRM-ACME-0042",
            "attributes": {"tier": "gold"},
        },
    ),
    OpenApiExample(
        "Out of any account",
        request_only=True,
        value={"identities": [{"kind": "email", "value": "ana@acme.example.com"}], "account": ""},
    ),
]


class ContactListApi(APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(
        operation_id="contact_list",
        summary="List contacts",
        description="The contacts the caller's departments know (a CX lead: all), oldest first.",
        parameters=CONTACT_FILTER_PARAMETERS,
        responses={200: ContactOutputSerializer(many=True), **error_responses(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        actor = actor_for_request(request)
        contacts = contact_list(actor=actor, filters=request.query_params)
        return paginated(self, request, contacts, ContactOutputSerializer, context={"actor": actor})


class ContactUpsertApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="contact_upsert",
        summary="Create or update a contact by identity",
        description="Writes the department's own view of the person the identities name (normalised): "
        "records the identities as the department's, overwrites the fields given and merges attributes. "
        "Nothing another department knows is read, changed or shown. 201 if the person is new to the "
        "department (whether or not another department knows them), 200 if the department knew them.",
        request=ContactUpsertInputSerializer,
        parameters=[HEADER_PARAMETER],
        responses={
            200: ContactOutputSerializer,
            201: ContactOutputSerializer,
            **error_responses(400, 401, 403, 404, 409, 422),
        },
        examples=UPSERT_EXAMPLES,
    )
    @idempotent
    def post(self, request: Request) -> Response:
        serializer = ContactUpsertInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = actor_for_request(request)
        view, created = contact_upsert(
            actor=actor,
            department=acting_department(request, actor, data.get("department")),
            identities=[(i["kind"], i["source"], i["value"]) for i in data["identities"]],
            name=data.get("name"),
            locale=data.get("locale"),
            time_zone=data.get("time_zone"),
            attributes=data.get("attributes"),
            notes=data.get("notes"),
            source=DepartmentContact.Source.API,
            phone_region=data["phone_region"],
            account=data.get("account"),
        )
        contact = contact_get(actor=actor, contact_id=view.contact_id)  # with what the actor may see
        return Response(
            ContactOutputSerializer(contact, context={"actor": actor}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ContactCollectionApi(ContactListApi, ContactUpsertApi):
    """/contacts: GET is ContactListApi, POST is ContactUpsertApi."""


class ContactDetailApi(APIView):
    @extend_schema(
        operation_id="contact_get",
        summary="Read a contact",
        responses={200: ContactOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, contact_id: uuid.UUID) -> Response:
        actor = actor_for_request(request)
        contact = contact_get(actor=actor, public_id=contact_id)
        return Response(ContactOutputSerializer(contact, context={"actor": actor}).data)


class ConsentListApi(APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(
        operation_id="consent_list",
        summary="List a contact's consent records",
        description="Records for every department and for the caller's departments, oldest first.",
        responses={200: ConsentOutputSerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, contact_id: uuid.UUID) -> Response:
        actor = actor_for_request(request)
        contact = contact_get(actor=actor, public_id=contact_id)
        return paginated(self, request, consent_list(actor=actor, contact=contact), ConsentOutputSerializer)


class ConsentRecordApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="consent_record",
        summary="Record an opt-out, opt-in or snooze",
        description="Appends a consent record. A department records consent for itself: `department` "
        "empty means the API key's own department (a signed-in user of several departments names one, "
        "400 otherwise), and `source` is api, admin or import. Only a CX lead records for every "
        "department or from the customer's and providers' sources (unsubscribe_link, "
        "preference_centre, bounce, complaint, sms_stop: 403 otherwise); those come from the "
        "customer's own links and the providers' webhooks.",
        request=ConsentRecordInputSerializer,
        parameters=[HEADER_PARAMETER],
        responses={201: ConsentOutputSerializer, **error_responses(400, 401, 403, 404, 422)},
    )
    @idempotent
    def post(self, request: Request, contact_id: uuid.UUID) -> Response:
        actor = actor_for_request(request)
        # Found first: another department's contact is a 404 whatever the body, never a 400.
        contact = contact_get(actor=actor, public_id=contact_id)
        serializer = ConsentRecordInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        slug = data["department"]
        consent = consent_record(
            actor=actor,
            contact=contact,
            kind=data["kind"],
            department=department_get(actor=actor, slug=slug) if slug else None,
            channel=data["channel"],
            until=data["until"],
            source=data["source"],
            note=data["note"],
        )
        return Response(ConsentOutputSerializer(consent).data, status=status.HTTP_201_CREATED)


class ContactConsentsApi(ConsentListApi, ConsentRecordApi):
    """/contacts/{id}/consents: GET is ConsentListApi, POST is ConsentRecordApi."""
