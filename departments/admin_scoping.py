"""Role scoping for the Django admin, shared by every app's admin.py.

A department owner sees only the rows of their own departments; a CX lead (or superuser) sees
everything. `DepartmentScopedAdmin` does that for a ModelAdmin or an inline: each admin says how a
row reaches its department, either with `department_path` ("department", "survey__department")
or, where a row belongs to several departments (a contact), by overriding `scope_queryset`.
Rows outside the scope answer 404, never 403, so ids do not tell one department about another's;
so does a changelist asked for a query-string lookup it does not offer the user, or one naming a
department the user does not work in (`?department=<another's id>`): what the page would list then
could tell one department about another's rows.

`ReadOnlyHistoryAdmin` makes a history table (consent, decisions, invitations, responses) viewable
only: nobody adds, changes or deletes a row through the admin, whatever their permissions.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db.models import Exists, Model, OuterRef, QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import Http404, HttpRequest, HttpResponse

from departments.actors import Actor, actor_for_user
from departments.models import Department
from departments.roles import CX_LEAD


def admin_actor(request: HttpRequest) -> Actor:
    """The Actor behind an admin request, computed once per request."""
    actor = getattr(request, "_cxfeedback_admin_actor", None)
    if actor is None:
        actor = actor_for_user(request.user)
        request._cxfeedback_admin_actor = actor
    return actor


def visible_departments(request: HttpRequest) -> QuerySet[Department]:
    """The departments the admin user works in: all of them for a CX lead."""
    actor = admin_actor(request)
    departments = Department.objects.order_by("name")
    return departments if actor.is_cx_lead else departments.filter(pk__in=actor.department_ids)


class DepartmentScopedAdmin:
    """Mix into a ModelAdmin or InlineModelAdmin (before it) to scope it to the user's departments.

    - `get_queryset`: unchanged for a CX lead, `scope_queryset(queryset, actor)` for anyone else;
    - foreign-key and many-to-many choices: departments limited to the user's, and rows of any
      other model whose admin is department-scoped limited to what that admin shows the user;
    - an object outside the scope (or missing) is a 404 on the change, delete and history pages;
    - a changelist lookup that names another department, or that the admin does not offer, is a 404.
    """

    # How a row reaches its department, as a lookup path; "pk" for Department itself.
    department_path: str | None = None

    def scope_queryset(self, queryset: QuerySet, actor: Actor) -> QuerySet:
        """The rows a department owner may see. Override where a row has several departments."""
        if self.department_path is None:  # also reported by check() at startup
            raise ImproperlyConfigured(f"{type(self).__name__} needs department_path or scope_queryset().")
        return queryset.filter(**{f"{self.department_path}__in": actor.department_ids})

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        actor = admin_actor(request)
        if actor.is_cx_lead:
            return queryset
        return self.scope_queryset(queryset, actor)

    def lookup_in_scope(self, lookup: str, value: str, actor: Actor) -> bool:
        """Whether a department owner's query-string lookup stays inside their departments: one that
        reaches a department names one of theirs (or asks only whether there is one). Override where
        a row's other fields belong to other departments too (a contact)."""
        rest = _after_department(self.model, lookup)
        if rest is None or rest == "isnull":
            return True
        if rest in _DEPARTMENT_EQUALITY:
            values = [value]
        elif rest in _DEPARTMENT_MEMBERSHIP:
            values = value.split(",")
        else:  # a range (`department__gt=3`) would tell which departments' ids a row has
            return False
        return all(v.strip().isdigit() and int(v) in actor.department_ids for v in values)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if not super().lookup_allowed(lookup, value, request):
            return False
        actor = admin_actor(request)
        return actor.is_cx_lead or self.lookup_in_scope(lookup, value, actor)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        try:
            return super().changelist_view(request, extra_context)
        except DisallowedModelAdminLookup as error:
            # Django answers 400; 404 here, as for another department's object, so that a lookup
            # naming another department's id answers exactly as one naming no department at all.
            raise Http404("No such list.") from error

    def check(self, **kwargs) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        if self.department_path is None and type(self).scope_queryset is DepartmentScopedAdmin.scope_queryset:
            errors.append(
                checks.Error(
                    "A department-scoped admin needs department_path or its own scope_queryset().",
                    obj=type(self),
                    id="cxfeedback.E001",
                )
            )
        return errors

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if "queryset" not in kwargs:
            scoped = self._scoped_choices(db_field.remote_field.model, request)
            if scoped is not None:
                kwargs["queryset"] = scoped
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        if "queryset" not in kwargs:
            scoped = self._scoped_choices(db_field.remote_field.model, request)
            if scoped is not None:
                kwargs["queryset"] = scoped
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _scoped_choices(self, model: type[Model], request: HttpRequest) -> QuerySet | None:
        if model is Department:
            return visible_departments(request)
        if not self.admin_site.is_registered(model):
            return None
        related_admin = self.admin_site.get_model_admin(model)
        if isinstance(related_admin, DepartmentScopedAdmin):
            # Its rows, without what its changelist prefetches: a choice needs only str(row).
            return related_admin.get_queryset(request).prefetch_related(None)
        return None

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None):
        # Django's delete view checks the permission before it looks at the object, so another
        # department's id would answer 403 where a missing one answers 404 when the user may not
        # delete: both are 404 here, before any permission check.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with this id.")
        return obj

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts, object_id: str):
        # Django's admin answers an unknown id with a redirect and a "doesn't exist" message. Rows of
        # another department are unknown ids here (get_queryset leaves them out): answer 404, as the
        # API does. tests/cxfeedback/test_admin_scoping.py pins this hook against Django upgrades.
        raise Http404(f"No {opts.verbose_name} with this id.")


# What may follow the field reaching a department in a lookup: it names one department, or several.
_DEPARTMENT_EQUALITY = {"", "exact", "id", "id__exact", "pk", "pk__exact"}
_DEPARTMENT_MEMBERSHIP = {"in", "id__in", "pk__in"}


def _after_department(model: type[Model], lookup: str) -> str | None:
    """The rest of `lookup` after its field that reaches a Department ("" for `department`, "in"
    for `send_request__department__in`), or None if it reaches none."""
    parts = lookup.split(LOOKUP_SEP)
    for index, part in enumerate(parts):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return None
        if field.related_model is Department:
            return LOOKUP_SEP.join(parts[index + 1 :])
        if not field.is_relation:
            return None
        model = field.related_model
    return None


def log_entries_visible(entries: QuerySet[LogEntry], actor: Actor) -> QuerySet[LogEntry]:
    """The admin history entries of a row several departments share (a contact) that `actor` may
    read: all for a CX lead; for anyone else, those written by people who work in no department
    but the actor's, so whatever they changed is something the actor sees too. Never a CX lead's
    entries: a CX lead changes what no department sees (the person's own fields, other views)."""
    if actor.is_cx_lead:
        return entries
    memberships = Department.members.through.objects.filter(user_id=OuterRef("pk"))
    authors = (
        get_user_model()
        .objects.filter(
            Exists(memberships.filter(department_id__in=actor.department_ids)), is_superuser=False
        )
        .exclude(Exists(memberships.exclude(department_id__in=actor.department_ids)))
        .exclude(groups__name=CX_LEAD)
    )
    return entries.filter(user__in=authors)


class ReadOnlyHistoryAdmin:
    """Mix into a ModelAdmin or inline of a history table: view only, for everyone."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class DepartmentListFilter(admin.RelatedFieldListFilter):
    """A list filter on a path ending in a Department that offers only the user's departments."""

    def field_choices(self, field, request: HttpRequest, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(
            include_blank=False,
            limit_choices_to={"pk__in": visible_departments(request).values("pk")},
            ordering=ordering,
        )
