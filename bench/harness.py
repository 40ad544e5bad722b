"""What every benchmark needs: Django set up on a database of its own, and a way to measure.

A benchmark runs against the embedded PostgreSQL server (or DATABASE_URL's server) in a database
named after it, created fresh and dropped at the end, so it never touches the app's data.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(database: str, *, fresh: bool = True) -> None:
    """Set Django up on a database called `database`, migrated: made anew, or with `fresh=False`
    as an earlier run left it (a benchmark's `--keep`)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxfeedback.settings")
    os.environ.setdefault("SECRET_KEY", "benchmarks-only-not-a-secret")
    # No provider webhooks in a benchmark: off, so DEBUG off needs no webhook secrets to start.
    os.environ.setdefault("PROVIDER_WEBHOOKS", "")
    os.environ.setdefault("STATIC_MANIFEST", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if fresh:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{database}"')
    _use(database)
    call_command("migrate", verbosity=0, interactive=False)


def drop_database(database: str) -> None:
    with _admin_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def database_exists(database: str) -> bool:
    with _admin_cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT FROM pg_database WHERE datname = %s)", [database])
        return cursor.fetchone()[0]


def database_copy(source: str, target: str) -> None:
    """Make `target` (dropped first) a file copy of `source`, statistics and all: a history that
    took half an hour to build is screened again after minutes of copying."""
    with _admin_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}" STRATEGY FILE_COPY')


@contextmanager
def _admin_cursor():
    """A cursor on the server's own database, no connection left open on the benchmark's (which
    the next query opens again)."""
    from django.conf import settings
    from django.db import connections

    benchmarks = settings.DATABASES["default"]["NAME"]
    original = os.environ.get("DATABASE_URL")
    if original:
        import dj_database_url

        admin_name = dj_database_url.parse(original)["NAME"]
    else:
        from cxfeedback.embedded import DATABASE_NAME as admin_name
    _use(admin_name)
    try:
        with connections["default"].cursor() as cursor:
            yield cursor
    finally:
        _use(benchmarks)


def _use(database: str) -> None:
    from django.conf import settings
    from django.db import connections

    connections.close_all()
    settings.DATABASES["default"]["NAME"] = database
    connections["default"].settings_dict["NAME"] = database


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def stopwatch():
    """`with stopwatch() as elapsed: …` then `elapsed()` is the seconds the block took."""
    started = time.perf_counter()
    ended: list[float] = []
    yield lambda: (ended[0] if ended else time.perf_counter()) - started
    ended.append(time.perf_counter())


def say(line: str) -> None:
    print(line, flush=True)
