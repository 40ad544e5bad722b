"""`make run`: migrate, load demo data once, then run web + worker + beat together.

Ctrl-C (or SIGTERM) stops all three. With DATABASE_URL unset the embedded PostgreSQL server is
started here first, so the three processes share it, and stopped when they have all exited; with
CELERY_BROKER_URL unset they share the embedded filesystem broker.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEMO_MARKER_NAME = ".demo-data-loaded"


def main() -> int:
    os.chdir(ROOT)
    os.environ.setdefault("DEBUG", "true")
    # No mail server on a developer machine: invitations are written to .local/outbox instead,
    # a file per delivery batch, links and all (set EMAIL_BACKEND/EMAIL_HOST to send for real).
    if "EMAIL_HOST" not in os.environ:
        os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxfeedback.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()  # starts the embedded PostgreSQL server if DATABASE_URL is unset; we hold it open
    from django.core.management import call_command

    from cxfeedback import embedded

    call_command("migrate", interactive=False, verbosity=1)
    marker = embedded.LOCAL_DIR / DEMO_MARKER_NAME
    if not marker.exists() or os.environ.get("DATABASE_URL"):
        call_command("load_demo_data")
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    else:
        call_command("load_demo_data", "--logins-only")

    port = os.environ.get("PORT", "8000")
    os.environ.setdefault("SITE_URL", f"http://127.0.0.1:{port}")
    commands = {
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
    processes = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}  # noqa: S603
    print(
        f"\ncxfeedback is running on http://127.0.0.1:{port}/admin/ — Ctrl-C stops web, worker and beat.\n",
        flush=True,
    )

    def stop(*_args):
        for process in processes.values():
            if process.poll() is None:
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(process.poll() is None for process in processes.values()):
            time.sleep(0.5)
        failed = [name for name, process in processes.items() if process.poll() not in (None, 0)]
        if failed:
            print(f"stopped because {', '.join(failed)} exited", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if not os.environ.get("DATABASE_URL"):
            embedded.forget_exited_users()  # so this process's exit stops the embedded PostgreSQL
    return 0


if __name__ == "__main__":
    sys.exit(main())
