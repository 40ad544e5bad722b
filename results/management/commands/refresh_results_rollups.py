"""Roll finished days up for the results dashboard now, as the beat task does every ROLLUP_INTERVAL;
`--rebuild` counts every day again (after data was repaired by hand). See results/rollups.py."""

from django.core.management.base import BaseCommand

from results.services.rollups import daily_rollups_refresh


class Command(BaseCommand):
    help = "Roll finished days up for the results dashboard (--rebuild: every day again)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--rebuild", action="store_true", help="Roll up every day again, not only new ones."
        )

    def handle(self, *args, rebuild: bool, **options):
        through = daily_rollups_refresh(rebuild=rebuild)
        self.stdout.write(f"Rolled up through {through}." if through else "Nothing to roll up yet.")
