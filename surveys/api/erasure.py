"""REST API v1: erase a person (surveys/erasure.py). CX leads only: a department's owner
or API key gets 404 for a contact it does not know and 403 for one it does (it may see the
contact, but erasing one is not its decision)."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.selectors import contact_get
from cxfeedback.exceptions import error_responses
from departments.actors import actor_for_request
from surveys.erasure import contact_erase


class ErasureOutputSerializer(serializers.Serializer):
    contact_id = serializers.UUIDField(help_text="The contact's id, as in the URL.")
    identities = serializers.IntegerField(help_text="Identities removed.")
    free_text_answers = serializers.IntegerField(help_text="Free-text answers blanked.")
    suppressed_identities = serializers.IntegerField(
        help_text="Identities kept as a digest because the person had opted out: they come back opted out."
    )


class ContactEraseApi(APIView):
    @extend_schema(
        operation_id="contact_erase",
        summary="Erase a person",
        description="Removes the contact's identities, name, attributes, notes and free-text answers, "
        "every department's view of them emptied, the stored answers an Idempotency-Key retry would "
        "replay and the admin history about them; keeps anonymous scores so consolidated figures do "
        "not change, and a hash of each identity of a person who had opted out, so they are never "
        "asked again. Repeating it changes nothing more. CX leads only.",
        request=None,
        responses={200: ErasureOutputSerializer, **error_responses(401, 403, 404)},
    )
    def post(self, request: Request, contact_id: uuid.UUID) -> Response:
        actor = actor_for_request(request)
        contact = contact_get(actor=actor, public_id=contact_id)
        result = contact_erase(actor=actor, contact_id=contact.pk)
        return Response(ErasureOutputSerializer({**asdict(result), "contact_id": contact.public_id}).data)
