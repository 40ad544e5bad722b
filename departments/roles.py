"""The two roles, as Django groups: department owners work inside their departments, CX leads
see and configure everything. Superusers count as CX leads."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

DEPARTMENT_OWNER = "Department owner"
CX_LEAD = "CX lead"


def is_cx_lead(user: AbstractBaseUser) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_cx_lead_cache", None)
    if cached is None:
        cached = user.groups.filter(name=CX_LEAD).exists()
        user._cx_lead_cache = cached
    return cached


def department_ids_for(user: AbstractBaseUser) -> list[int]:
    """The departments a department owner works in (empty for anonymous users)."""
    if not user.is_authenticated:
        return []
    cached = getattr(user, "_department_ids_cache", None)
    if cached is None:
        cached = list(user.departments.values_list("pk", flat=True))
        user._department_ids_cache = cached
    return cached


# What each role may do, by app label and permission codename. A CX lead gets every permission of
# these apps except deleting history (HISTORY_MODELS); a department owner gets the listed ones and
# sees only their departments' rows (the admin and the API scope every queryset).
ROLE_APPS = ("departments", "contacts", "surveys", "results")
HISTORY_MODELS = {"consent", "decision", "invitation", "response", "auditentry", "contactmerge", "override"}
DEPARTMENT_OWNER_PERMISSIONS = {
    # Owners run their own department's integrations: they create and revoke its API keys.
    "departments": ["view_department", "view_apikey", "add_apikey", "change_apikey"],
    "contacts": [
        "view_contact",
        "add_contact",
        "change_contact",
        "view_identity",
        "add_identity",
        # Their departments' views of a person (name, attributes, notes …), edited on the contact page.
        "view_departmentcontact",
        "change_departmentcontact",
        "view_consent",
        "add_consent",
        "view_contactimport",
        "add_contactimport",
        "view_contactimportissue",
        "view_account",  # the accounts their departments named, read-only
    ],
    "surveys": [
        "view_survey",
        "add_survey",
        "change_survey",
        "delete_survey",
        "view_question",
        "add_question",
        "change_question",
        "delete_question",
        "view_sendrequest",
        "add_sendrequest",
        "change_sendrequest",
        "view_decision",
        "view_invitation",
        "view_response",
        "view_answer",
        "view_frequencyrule",
        "view_override",  # their requests' overrides, read-only
        # Their departments' blackouts: seen, and closed with the admin's action (opened by the API).
        "view_blackout",
        "change_blackout",
        # CSV imports of touches their other survey tools sent: uploaded, followed, cancelled, resumed.
        "view_touchimport",
        "add_touchimport",
        "change_touchimport",
    ],
    # Owners work through their department's follow-ups; CX leads write the follow-up rules.
    "results": ["view_followup", "change_followup", "view_followuprule"],
}


def roles_ensure() -> None:
    """Create or update the two groups and their permissions (run after every migrate)."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    # post_migrate runs app by app; make sure every role app's permissions exist already.
    for label in ROLE_APPS:
        create_permissions(apps.get_app_config(label), verbosity=0)
    owner, _ = Group.objects.get_or_create(name=DEPARTMENT_OWNER)
    lead, _ = Group.objects.get_or_create(name=CX_LEAD)
    permissions = Permission.objects.filter(content_type__app_label__in=ROLE_APPS).select_related(
        "content_type"
    )
    lead_permissions, owner_permissions = [], []
    for permission in permissions:
        app, model = permission.content_type.app_label, permission.content_type.model
        if not (permission.codename.startswith("delete_") and model in HISTORY_MODELS):
            lead_permissions.append(permission)
        if permission.codename in DEPARTMENT_OWNER_PERMISSIONS.get(app, ()):
            owner_permissions.append(permission)
    lead.permissions.set(lead_permissions)
    owner.permissions.set(owner_permissions)
