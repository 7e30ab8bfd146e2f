"""Roles are Django groups: operator < engineer < admin. Superusers are admins."""

from enum import IntEnum
from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

if TYPE_CHECKING:  # rest_framework.views imports this module through its settings
    from rest_framework.views import APIView


class Role(IntEnum):
    OPERATOR = 1
    ENGINEER = 2
    ADMIN = 3


ROLE_NAMES = {role.name.lower(): role for role in Role}


def user_role(user: AbstractBaseUser | AnonymousUser | None) -> Role | None:
    if user is None or not user.is_authenticated:
        return None
    if getattr(user, "is_superuser", False):
        return Role.ADMIN
    # Cached on the user object: a request asks once, however many checks it makes.
    cached: Role | None | bool = getattr(user, "_celltrace_role", False)
    if cached is not False:
        return cached  # type: ignore[return-value]
    names = set(user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]
    role = max((ROLE_NAMES[n] for n in names if n in ROLE_NAMES), default=None)
    user._celltrace_role = role  # type: ignore[union-attr,attr-defined]
    return role


class HasRole(BasePermission):
    """Reads need any role; writes need `write_role` of the view (operator unless it says)."""

    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: "APIView") -> bool:
        role = user_role(request.user)
        if role is None:
            return False
        if request.method in SAFE_METHODS:
            needed = getattr(view, "read_role", Role.OPERATOR)
        else:
            needed = getattr(view, "write_role", Role.OPERATOR)
        return role >= needed
