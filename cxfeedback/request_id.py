"""A request id on every log line of a request, and of the Celery tasks it queues.

The id is the proxy's X-Request-ID when it looks like one (so the proxy's log line and ours can be
matched), else a new one; the response carries it back. A task published while a request is
handled carries the id in a message header, and the worker sets it again while the task runs, so
a trigger's lines and the lines of its invitation's send share one id. The JSON log lines
(cxfeedback/log_json.py) and error reports (cxfeedback/sentry.py) read it from here.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Callable

from celery import signals
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
TASK: contextvars.ContextVar[str] = contextvars.ContextVar("task", default="")
HEADER = "X-Request-ID"
MESSAGE_HEADER = "request_id"
# The header is whatever the client wrote: only an id of this shape is taken over, so a log line
# never carries someone's text.
ACCEPTED = re.compile(r"[A-Za-z0-9._-]{8,64}")


class RequestIdMiddleware:
    """First in MIDDLEWARE, so every line logged while handling the request has the id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(HEADER, "")
        request_id = incoming if ACCEPTED.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        # Cleared when the response is finished (below), not on the way out of here: Django logs a
        # 4xx or 5xx ("Not Found: …") after the last middleware has returned.
        REQUEST_ID.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


@receiver(request_finished, dispatch_uid="cxfeedback.request_id")
def _request_id_clear_after_response(**kwargs) -> None:
    REQUEST_ID.set("")


@signals.before_task_publish.connect(weak=False)
def _request_id_to_message(headers: dict | None = None, **kwargs) -> None:
    request_id = REQUEST_ID.get()
    if request_id and headers is not None:
        headers.setdefault(MESSAGE_HEADER, request_id)


@signals.task_prerun.connect(weak=False)
def _request_id_from_message(task_id: str = "", task=None, **kwargs) -> None:
    # Custom message headers become attributes of the task's request (Celery's protocol 2).
    REQUEST_ID.set(str(getattr(task.request, MESSAGE_HEADER, None) or ""))
    TASK.set(f"{task.name}[{task_id}]" if task is not None else "")


@signals.task_postrun.connect(weak=False)
def _request_id_clear(**kwargs) -> None:
    REQUEST_ID.set("")
    TASK.set("")
