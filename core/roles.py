"""Roles are Django groups: operator < engineer < admin. Superusers are admins.

The API (api.permissions) and the pages (web.access) decide by the same functions.
"""

from enum import IntEnum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


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


def role_remember(user: AbstractBaseUser, annotated: object) -> None:
    """Cache on `user` the role read with its groups: `annotated` has `in_group_<role>` per role
    (api.authentication's query), so user_role asks no query of its own."""
    held = [role for name, role in ROLE_NAMES.items() if getattr(annotated, f"in_group_{name}")]
    user._celltrace_role = max(held, default=None)  # type: ignore[attr-defined]


def has_role(user: AbstractBaseUser | AnonymousUser | None, needed: Role) -> bool:
    """The user holds `needed` or a higher role."""
    role = user_role(user)
    return role is not None and role >= needed
