"""The decisions' monthly partitions (surveys/gatekeeper/decision_partitions.py):
`manage.py decision_partitions` lists them, `--ensure` makes the coming months' now (the beat does it
every HOUSEKEEPING_INTERVAL), `--detach 2026-01` detaches a past month's, to be archived and dropped."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from surveys.errors import PartitionRefused
from surveys.gatekeeper.decision_partitions import (
    decision_partition_detach,
    decision_partitions,
    decision_partitions_ensure,
)


class Command(BaseCommand):
    help = "List the decisions' monthly partitions, make the coming months', or detach a past month's."

    def add_arguments(self, parser):
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--ensure", action="store_true", help="Make the coming months' partitions.")
        action.add_argument("--detach", metavar="YYYY-MM", type=_month, help="Detach a past month's.")

    def handle(self, *args, ensure: bool, detach: dt.date | None, **options):
        if ensure:
            made = decision_partitions_ensure()
            self.stdout.write(f"Made {', '.join(made)}." if made else "Every coming month has its partition.")
        elif detach:
            try:
                name = decision_partition_detach(month=detach)
            except PartitionRefused as refused:
                raise CommandError(refused.message) from refused
            self.stdout.write(
                f"Detached {name}: its decisions are no longer read. Archive it (pg_dump -t {name}), "
                f"then DROP TABLE {name}."
            )
        else:
            for partition in decision_partitions():
                month = f"{partition.month:%Y-%m}" if partition.month else "other months"
                self.stdout.write(f"{partition.name}\t{month}\tabout {partition.rows} decisions")


def _month(given: str) -> dt.date:
    try:
        return dt.datetime.strptime(given, "%Y-%m").date()
    except ValueError as error:
        message = f"--detach: {given!r} is not a month; give it as YYYY-MM, e.g. 2026-01."
        raise CommandError(message) from error
