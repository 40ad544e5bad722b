"""/healthz: does the app reach its database and its broker? 200 if both answer, 503 otherwise.
For the load balancer: a web process that answers it can serve pages.

/readyz: is the whole of cxfeedback doing its job? /healthz's checks, and a Celery worker and the
beat seen within HEARTBEAT_MAX_AGE seconds (cxfeedback/heartbeats.py). For the monitoring, never
the load balancer: taking the web out of service because the beat died would turn late invitations
into an outage of the customer's pages and the API.
"""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cxfeedback.celery import app as celery_app
from cxfeedback.heartbeats import heartbeat_ages


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def broker_ok() -> bool:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
        return True
    except Exception:
        return False


@never_cache
@require_GET
def healthz(request):
    checks = {"database": database_ok(), "broker": broker_ok()}
    body = {name: "ok" if ok else "unavailable" for name, ok in checks.items()}
    return JsonResponse(body, status=200 if all(checks.values()) else 503)


def heartbeats_state() -> dict[str, str]:
    """ "ok", "not seen for N s" or "never seen" for the worker and the beat; "unknown" without a database."""
    try:
        ages = heartbeat_ages()
    except Exception:
        return {"worker": "unknown", "beat": "unknown"}
    return {
        process: "never seen"
        if age is None
        else "ok"
        if age <= settings.HEARTBEAT_MAX_AGE
        else f"not seen for {int(age)} s"
        for process, age in ages.items()
    }


@never_cache
@require_GET
def readyz(request):
    body = {
        "database": "ok" if database_ok() else "unavailable",
        "broker": "ok" if broker_ok() else "unavailable",
        **heartbeats_state(),
    }
    return JsonResponse(body, status=200 if set(body.values()) == {"ok"} else 503)
