"""`make run`: migrate, load demo data once, then run web + worker + beat together.

Ctrl-C (or SIGTERM) stops all three; a worker or beat that exits is started again, with backoff
(scripts/supervise.py). With DATABASE_URL unset the embedded PostgreSQL server is
started here first, so the three processes share it, and stopped when they have all exited; with
CELERY_BROKER_URL unset they share the embedded filesystem broker.
"""

import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEMO_MARKER_NAME = ".demo-data-loaded"


def main() -> int:
    """Migrate, load the demo data once, then run web, worker and beat until one exits or we are stopped."""
    _environment_set()
    # Before settings are read: the demo logins printed below name SITE_URL, so they name this port.
    port = os.environ.get("PORT", "8000")
    os.environ.setdefault("SITE_URL", f"http://127.0.0.1:{port}")
    import django

    django.setup()  # starts the embedded PostgreSQL server if DATABASE_URL is unset; we hold it open
    from cxfeedback import embedded

    _database_prepare(demo_marker=embedded.LOCAL_DIR / DEMO_MARKER_NAME)
    from scripts.supervise import Supervised, supervise

    # The web's exit ends the run (a port in use, a typo in settings); worker and beat are started
    # again when they exit (scripts/supervise.py), as systemd restarts them in production.
    processes = [
        Supervised(name, command, restart=name != "web") for name, command in _commands(port).items()
    ]
    print(
        f"\ncxfeedback is running on http://127.0.0.1:{port}/admin/ — Ctrl-C stops web, worker and beat.\n",
        flush=True,
    )
    stop_requested = []
    signal.signal(signal.SIGTERM, lambda *_args: stop_requested.append(True))
    try:
        supervise(processes, stopping=lambda: bool(stop_requested))
    except KeyboardInterrupt:
        pass
    finally:  # supervise() has stopped all three
        if not os.environ.get("DATABASE_URL"):
            embedded.forget_exited_users()  # so this process's exit stops the embedded PostgreSQL
    return 0


def _environment_set() -> None:
    """Work from the project folder with DEBUG on, mail to files, and the project's settings."""
    os.chdir(ROOT)
    os.environ.setdefault("DEBUG", "true")
    # No mail server on a developer machine: invitations are written to .local/outbox instead,
    # a file per delivery batch, links and all (set EMAIL_BACKEND/EMAIL_HOST to send for real).
    if "EMAIL_HOST" not in os.environ:
        os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxfeedback.settings")
    sys.path.insert(0, str(ROOT))


def _database_prepare(*, demo_marker: Path) -> None:
    """Migrate; load the demo data the first time (every time on a DATABASE_URL), else print the logins."""
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=1)
    if not demo_marker.exists() or os.environ.get("DATABASE_URL"):
        call_command("load_demo_data")
        demo_marker.parent.mkdir(parents=True, exist_ok=True)
        demo_marker.touch()
    else:
        call_command("load_demo_data", "--logins-only")


def _commands(port: str) -> dict[str, list[str]]:
    """The command lines of web, worker and beat."""
    return {
        "web": [str(BIN / "python"), "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        "worker": [
            str(BIN / "celery"),
            "-A",
            "cxfeedback",
            "worker",
            "--loglevel=INFO",
            "--concurrency=2",
            "--without-mingle",
            "--without-gossip",
        ],
        "beat": [str(BIN / "celery"), "-A", "cxfeedback", "beat", "--loglevel=INFO"],
    }


if __name__ == "__main__":
    sys.exit(main())
