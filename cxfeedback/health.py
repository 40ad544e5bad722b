"""/healthz: does the app reach its database and its broker? 200 if both answer, 503 otherwise."""

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cxfeedback.celery import app as celery_app


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
