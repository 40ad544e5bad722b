from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_roles(sender, **kwargs) -> None:
    from departments.roles import roles_ensure

    roles_ensure()


class DepartmentsConfig(AppConfig):
    name = "departments"

    def ready(self) -> None:
        # After migrate, when Django has created the permissions the groups refer to.
        post_migrate.connect(_ensure_roles, sender=self, dispatch_uid="departments.roles")
