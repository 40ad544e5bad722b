"""Benchmark: import a contacts CSV through the real service (contacts/importing).

Creates its own database `bench_import` on the configured server (DATABASE_URL, or the embedded
PostgreSQL), migrates it, seeds 10,000 existing contacts, writes a CSV of --rows rows (default
100,000) where 10 % are the existing contacts written differently (upper-case email, national phone
format), imports it, drops the database, and prints as its last line:

    bench import rows=100000 seconds=S rows_per_s=R peak_rss_mb=M

With --paths the same file goes through the command line, the API and the admin instead, on a
running stack (bench/import_paths.py), e.g. `--rows 300000 --paths`.

peak_rss_mb is the process's peak resident memory (ru_maxrss), seeding included. Run it with
--rows 20000 as well: the two peaks should be about the same, because the file is streamed.
Target: at least 10,000 rows/s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxfeedback.settings")
# DEBUG stays off: with it Django keeps every query's text, and the memory figure would measure that.
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
os.environ.setdefault("PROVIDER_WEBHOOKS", "")  # none in a benchmark, so no webhook secrets are needed
os.environ.setdefault("STATIC_MANIFEST", "false")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from contacts.importing import contact_import_run  # noqa: E402
from contacts.models import Contact, Identity  # noqa: E402
from departments.actors import Actor  # noqa: E402
from departments.models import Department  # noqa: E402

DATABASE = "bench_import"
EXISTING = 10_000
DUPLICATE_SHARE = 0.10
HEADER = ["email", "phone", "name", "locale", "time_zone", "attr.tier", "attr.plan"]
ZONES = ["Europe/Berlin", "Europe/Vienna", "Europe/London", "America/New_York"]


def existing_row(i: int) -> list[str]:
    return [
        f"person{i}@example.com",
        f"+49 151 {10_000_000 + i}",
        f"Person {i}",
        "de",
        ZONES[i % 4],
        "",
        "",
    ]


def duplicate_row(i: int) -> list[str]:
    """Existing contact i as another system writes it: same person, different formatting."""
    number = str(10_000_000 + i)
    return [f"  PERSON{i}@Example.COM ", f"0151 {number[:4]} {number[4:]}", "", "", "", "", ""]


def new_row(j: int) -> list[str]:
    tier = ("gold", "silver", "bronze")[j % 3]
    return [
        f"new.customer{j}@shop.example.org",
        f"0160 {20_000_000 + j}",
        f"Kundin Nummer {j} Müller",
        "de-AT" if j % 2 else "en",
        ZONES[j % 4],
        tier,
        "monthly",
    ]


def write_csv(path: Path, rows: int) -> int:
    """The benchmark file: every tenth row is an existing contact; returns how many are."""
    duplicates = 0
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for n in range(rows):
            if n % round(1 / DUPLICATE_SHARE) == 0:
                writer.writerow(duplicate_row(duplicates % EXISTING))
                duplicates += 1
            else:
                writer.writerow(new_row(n))
    return duplicates


def database_create() -> None:
    with connection._nodb_cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        cursor.execute(f"CREATE DATABASE {DATABASE}")
    connection.close()
    connection.settings_dict["NAME"] = DATABASE


def database_drop() -> None:
    connection.close()
    with connection._nodb_cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def postgres_cpu_seconds() -> float | None:
    """CPU time of this connection's PostgreSQL backend, if it runs on this machine."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_report(before: os.times_result, postgres_before: float | None, rows: int) -> str:
    after, postgres_after = os.times(), postgres_cpu_seconds()
    own = after.user + after.system - before.user - before.system
    readers = after.children_user + after.children_system - before.children_user - before.children_system
    postgres = postgres_after - postgres_before if postgres_before is not None else 0.0
    per_row = (own + readers + postgres) / rows * 1e6
    return (
        f"cpu_s import={own:.2f} readers={readers:.2f} postgres={postgres:.2f} total_per_row_us={per_row:.0f}"
    )


def import_file(department: Department, path: Path):
    actor = Actor(department_ids=frozenset({department.pk}))
    return contact_import_run(department=department, file=path, actor=actor, filename=path.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--paths", action="store_true", help="the file through the command line, the API and the admin"
    )
    args = parser.parse_args()
    rows = args.rows
    if args.paths:
        from import_paths import run

        run(rows, write_csv)
        return
    database_create()
    try:
        call_command("migrate", verbosity=0)
        department = Department.objects.create(slug="bench", name="Bench")
        with tempfile.TemporaryDirectory() as folder:
            seed, path = Path(folder) / "seed.csv", Path(folder) / "contacts.csv"
            with seed.open("w", newline="", encoding="utf-8") as file:
                writer = csv.writer(file)
                writer.writerow(HEADER)
                writer.writerows(existing_row(i) for i in range(EXISTING))
            seeded = import_file(department, seed)
            if seeded.counts["created"] != EXISTING:
                sys.exit(f"bench import: seeding failed {seeded.counts} {seeded.issues[:1]}")
            duplicates = write_csv(path, rows)
            cpu_before, postgres_before = os.times(), postgres_cpu_seconds()
            started = time.perf_counter()
            result = import_file(department, path)
            seconds = time.perf_counter() - started
            cpu = cpu_report(cpu_before, postgres_before, rows)
        expected = {"rows": rows, "created": rows - duplicates, "matched": duplicates, "invalid": 0}
        wrong = {
            name: result.counts[name] for name, value in expected.items() if result.counts[name] != value
        }
        if wrong or Contact.objects.count() != EXISTING + rows - duplicates:
            sys.exit(f"bench import: unexpected outcome {result.counts} (expected {expected})")
        identities = Identity.objects.count()
    finally:
        database_drop()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    print(f"counts {result.counts} identities={identities}")
    # CPU seconds by process: on a busy machine rows_per_s drops, these do not (much).
    print(cpu)
    print(
        f"bench import rows={rows} seconds={seconds:.2f} rows_per_s={rows / seconds:.0f} "
        f"peak_rss_mb={peak_mb:.0f}"
    )


if __name__ == "__main__":
    main()
