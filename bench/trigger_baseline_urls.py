"""The baseline's one view: POST /api/v1/triggers as bare as DRF allows (bench/bench_trigger.py).

Per call: an API-key-like header check (a SHA-256 of the key compared with the expected one), the
JSON body parsed by DRF, and in one transaction a row lock on the contact, a count of its recent
touches and an insert: the least a gatekeeper's decision needs. Tables of its own
(`baseline_contact`, `baseline_touch`), made by bench_trigger.py in the bench database.
"""

import hashlib
import hmac
import os
import zlib

from django.db import connection, transaction
from django.http import HttpResponse
from django.urls import path
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

KEY_HASHES = [hashlib.sha256(key.encode()).digest() for key in os.environ["BASELINE_KEYS"].split(",")]
CONTACTS = int(os.environ["BASELINE_CONTACTS"])


class BaselineTriggerApi(APIView):
    parser_classes = [JSONParser]

    def post(self, request):
        header = request.headers.get("Authorization", "").removeprefix("Bearer ")
        digest = hashlib.sha256(header.encode()).digest()
        if not any(hmac.compare_digest(digest, known) for known in KEY_HASHES):
            return Response({"code": "not_authenticated"}, status=401)
        email = request.data["contact"]["identities"][0]["value"]
        contact = zlib.crc32(email.encode()) % CONTACTS + 1
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT id FROM baseline_contact WHERE id = %s FOR UPDATE", [contact])
            cursor.execute(
                "SELECT count(*) FROM baseline_touch WHERE contact_id = %s"
                " AND at > now() - interval '7 days'",
                [contact],
            )
            [touches] = cursor.fetchone()
            allowed = touches < 2
            if allowed:
                cursor.execute(
                    "INSERT INTO baseline_touch (contact_id, survey_id, at) VALUES (%s, %s, now())",
                    [contact, request.data["survey"]],
                )
        return Response({"decision": {"allowed": allowed}}, status=201 if allowed else 200)


def healthz(request):
    return HttpResponse("ok")


urlpatterns = [path("api/v1/triggers", BaselineTriggerApi.as_view()), path("healthz", healthz)]
