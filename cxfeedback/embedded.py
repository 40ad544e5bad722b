"""Embedded services for a machine with nothing but Python: PostgreSQL and a Celery broker.

With `DATABASE_URL` unset the app, its workers and the tests share one PostgreSQL server that the
`pgserver` package runs from `.local/pgdata` (git-ignored). With `CELERY_BROKER_URL` unset, Celery
uses kombu's filesystem transport under `.local/broker`: a real broker, so a real worker runs.

Callers: `cxfeedback.settings` (and through it manage.py, gunicorn, celery, pytest) and
`scripts/run.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

LOCAL_DIR = Path(os.environ.get("CXFEEDBACK_LOCAL_DIR", Path(__file__).resolve().parent.parent / ".local"))
PGDATA_DIR = LOCAL_DIR / "pgdata"
BROKER_DIR = LOCAL_DIR / "broker"
DATABASE_NAME = "cxfeedback"

# Settings for the embedded server only: durability is traded for speed on a developer machine
# (a crash loses at most the last few hundred milliseconds of commits, never consistency).
POSTGRES_TUNING = {
    "synchronous_commit": "off",
    "shared_buffers": "'512MB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'256MB'",
    "max_connections": "200",
    "max_wal_size": "'4GB'",
}


def embedded_postgres_settings() -> dict:
    """Start (or join) the embedded PostgreSQL server; return Django's connection settings for it."""
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    # pgserver keeps its inter-process lock in the user's runtime folder; give it one that exists.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(LOCAL_DIR / "run"))
    (LOCAL_DIR / "run").mkdir(mode=0o700, exist_ok=True)
    import pgserver  # imported here: production never loads it

    server = pgserver.get_server(PGDATA_DIR, cleanup_mode="stop")
    info = server.get_postmaster_info()
    host = str(info.socket_dir) if info.socket_dir else "127.0.0.1"
    _ensure_tuned_and_created(server)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "HOST": host,
        "PORT": str(info.port or ""),
    }


def _ensure_tuned_and_created(server) -> None:
    """On first start only: tune the server, create the database, and restart once to apply."""
    from pgserver._commands import pg_ctl
    from pgserver.utils import PostmasterInfo

    marker = PGDATA_DIR / ".cxfeedback-ready"
    if marker.exists():
        return
    # pgserver's own inter-process lock: a second process starting at the same moment waits here
    # instead of restarting the server under the first one.
    with server._lock:
        if marker.exists():
            return
        for name, value in POSTGRES_TUNING.items():
            server.psql(f"ALTER SYSTEM SET {name} = {value};")
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {DATABASE_NAME};")
        # shared_buffers and max_connections only take effect on a restart; pg_ctl keeps the
        # socket options pgserver started it with.
        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=PGDATA_DIR, user=server.system_user, timeout=60)
        server._postmaster_info = PostmasterInfo.read_from_pgdata(PGDATA_DIR)
        marker.touch()


def forget_exited_users() -> None:
    """Take processes that no longer exist off pgserver's list of the server's users.

    pgserver stops the server when the last process on that list exits, and each process takes
    itself off at exit — unless a signal killed it (runserver on SIGTERM does not run atexit).
    One such pid left on the list, and the server outlives every later `make run`. Called by
    `scripts/run.py` once its web, worker and beat have exited, so its own exit stops the server.
    """
    import pgserver
    import psutil

    server = pgserver.get_server(PGDATA_DIR, cleanup_mode="stop")  # this process's handle
    with server._lock:
        users = server.global_process_id_list.get()
        alive = [pid for pid in users if psutil.pid_exists(pid)]
        if alive != users:
            server.global_process_id_list.put(alive)


def embedded_broker_url() -> tuple[str, dict]:
    """The filesystem broker's URL and transport options, creating its folders."""
    broker_dir = Path(os.environ.get("CXFEEDBACK_BROKER_DIR", BROKER_DIR))
    queue_dir = broker_dir / "queue"
    processed_dir = broker_dir / "processed"
    control_dir = broker_dir / "control"
    for folder in (queue_dir, processed_dir, control_dir):
        folder.mkdir(parents=True, exist_ok=True)
    options = {
        "data_folder_in": str(queue_dir),
        "data_folder_out": str(queue_dir),
        "processed_folder": str(processed_dir),
        # Without it kombu keeps its exchange tables in ./control, wherever the process started.
        "control_folder": str(control_dir),
        "store_processed": False,
    }
    from cxfeedback import broker  # registers the transport: kombu's, with messages written whole

    return f"{broker.SCHEME}://", options
