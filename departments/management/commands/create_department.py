"""`manage.py create_department SLUG --name NAME`: a new department, ready for members and API keys."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cxfeedback.exceptions import ApplicationError
from departments.services import department_create


class Command(BaseCommand):
    help = "Create a department. Fails if the slug is taken."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="Short name used in URLs and the API, such as support.")
        parser.add_argument("--name", required=True, help="Name shown to people, such as 'Customer support'.")

    def handle(self, *args, slug: str, name: str, **options) -> None:
        try:
            department = department_create(slug=slug, name=name)
        except ApplicationError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"Created department {department.name!r} ({department.slug}).")
