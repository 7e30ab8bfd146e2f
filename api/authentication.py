"""Token authentication that reads the user's role with the token: one query, not two."""

from typing import Any

from django.db.models import OuterRef
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from core.roles import role_annotations, role_remember


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's `Authorization: Token <key>`, the same answers; the role groups come in the same
    query as the token and its user (a station scans many times a second)."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        tokens = Token.objects.select_related("user").annotate(**role_annotations(OuterRef("user_id")))
        try:
            token = tokens.get(key=key)
        except Token.DoesNotExist:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        role_remember(token.user, token)
        return (token.user, token)
