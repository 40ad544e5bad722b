"""What every API view needs to know about departments: which one a request acts for."""

from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from departments.models import ApiKey, Department
from departments.selectors import department_get


def acting_department(request: Request, actor: Actor, slug: str | None) -> Department:
    """An API key acts for its own department; a signed-in user names one they work for.

    Raises NotFound for a department the caller does not work for (never 403: slugs do not leak),
    ValidationError if a signed-in user names none.
    """
    if isinstance(request.auth, ApiKey):
        if slug and slug != request.auth.department.slug:
            raise NotFound(f"Department {slug!r} not found.", extra={"department": slug})
        return request.auth.department
    if not slug:
        raise ValidationError({"department": ["Name the department (its slug) you act for."]})
    return department_get(actor=actor, slug=slug)
