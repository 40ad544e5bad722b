"""Who is asking: a person in the admin or dashboard, or a department's API key.

Every selector and service that reads or writes department data takes an `Actor` and scopes by
it, so a department owner and an API key see the same slice of data.
"""

from __future__ import annotations

from dataclasses import dataclass

from departments.roles import department_ids_for, is_cx_lead


@dataclass(frozen=True)
class Actor:
    department_ids: frozenset[int]
    is_cx_lead: bool = False
    user_id: int | None = None
    api_key_id: int | None = None

    def sees_department(self, department_id: int | None) -> bool:
        return self.is_cx_lead or department_id in self.department_ids

    def label(self) -> str:
        if self.api_key_id:
            return f"api-key:{self.api_key_id}"
        return f"user:{self.user_id}"


def actor_for_user(user) -> Actor:
    return Actor(
        department_ids=frozenset(department_ids_for(user)),
        is_cx_lead=is_cx_lead(user),
        user_id=user.pk,
    )


def actor_for_request(request) -> Actor:
    from departments.models import ApiKey

    if isinstance(request.auth, ApiKey):
        return Actor(department_ids=frozenset({request.auth.department_id}), api_key_id=request.auth.pk)
    return actor_for_user(request.user)
