"""`manage.py create_api_key DEPARTMENT_SLUG [--name N]`: a new API key, printed once as the last line.

Only a hash is stored, so the key cannot be shown again; scripts read the last line of the output.
"""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from departments.models import Department
from departments.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a department and print it (last line). It is shown only once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("department_slug", help="The department the key acts for.")
        parser.add_argument("--name", default="", help="A label to tell keys apart, such as 'CRM sync'.")

    def handle(self, *args, department_slug: str, name: str, **options) -> None:
        department = Department.objects.filter(slug=department_slug).first()
        if department is None:
            raise CommandError(
                f"No department with slug {department_slug!r}; create it with create_department."
            )
        api_key, plain = api_key_create(department=department, name=name)
        self.stdout.write(
            f"API key {api_key.prefix}… for {department.name}; store it now, it is not shown again:"
        )
        self.stdout.write(plain)
