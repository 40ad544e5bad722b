"""Reading departments, scoped to who asks."""

from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from departments.models import Department


def department_get(*, actor: Actor, slug: str) -> Department:
    """The department with `slug` if the actor works for it (a CX lead: any); raises NotFound."""
    department = Department.objects.filter(slug=slug).first()
    if department is None or not actor.sees_department(department.pk):
        raise NotFound(f"Department {slug!r} not found.", extra={"department": slug})
    return department
