"""DRF's permission classes, on the roles of core.roles."""

from typing import TYPE_CHECKING

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from core.roles import Role, user_role

if TYPE_CHECKING:  # rest_framework.views imports this module through its settings
    from rest_framework.views import APIView


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
