"""The Celery app: settings come from Django's, prefixed CELERY_; tasks from each app's tasks.py."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxfeedback.settings")

app = Celery("cxfeedback")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect(weak=False)
def _worker_observed(**kwargs) -> None:
    # Connect their task signals in the worker's main process, before the pool forks.
    from cxfeedback import metrics, request_id  # noqa: F401


@signals.worker_ready.connect(weak=False)
def _worker_heartbeat(**kwargs) -> None:
    from cxfeedback.heartbeats import heartbeat_thread_start

    heartbeat_thread_start(process="worker")


@signals.beat_init.connect(weak=False)
def _beat_heartbeat(**kwargs) -> None:
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
    from cxfeedback.heartbeats import heartbeat_thread_start

    heartbeat_thread_start(process="beat")
