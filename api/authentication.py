"""Token authentication that reads the user's role with the token: one query, not two."""

import functools
from typing import Any

from django.contrib.auth.models import Group, User
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from core.roles import ROLE_NAMES, role_remember


@functools.cache
def _token_sql() -> str:
    """The user of a token key and, per role, whether the user is in its
    group. Written once: the ORM took longer to compile this than PostgreSQL to run it."""
    memberships = User.groups.through._meta.db_table
    in_group = ", ".join(
        f"EXISTS (SELECT 1 FROM {memberships} m JOIN {Group._meta.db_table} g ON g.id = m.group_id"
        f" WHERE m.user_id = u.id AND g.name = '{name}') AS in_group_{name}"
        for name in ROLE_NAMES  # fixed identifiers of core.roles, not input
    )
    return (
        f"SELECT u.*, {in_group} FROM {Token._meta.db_table} t"  # noqa: S608
        f" JOIN {User._meta.db_table} u ON u.id = t.user_id WHERE t.key = %s"
    )


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's `Authorization: Token <key>`, the same answers; the role groups come in the same
    query as the token and its user (a station scans many times a second)."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        user = next(iter(User.objects.raw(_token_sql(), [key])), None)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        role_remember(user, user)
        return (user, Token(key=key, user=user))  # request.auth: the key and its user, as DRF's
