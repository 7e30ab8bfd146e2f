"""Who may open and submit which page: the roles of core.roles (operator < engineer < admin), and a
domain error turned into a plain sentence on the page instead of an error page."""

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import render

from core.errors import DomainError
from core.roles import Role, has_role, user_role

View = Callable[..., HttpResponseBase]


def role_required(role: Role) -> Callable[[View], View]:
    """Signed in (else the login page) and at least `role` (else a 403 page that says why)."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not has_role(request.user, role):
                needed = role.name.lower()
                return render(request, "web/forbidden.html", {"needed": needed}, status=403)
            return view(request, *args, **kwargs)

        return login_required(wrapper)

    return decorator


def signed_in(request: HttpRequest) -> User:
    """The user of a page behind `role_required`."""
    assert isinstance(request.user, User), "the page is behind role_required"
    return request.user


def can(request: HttpRequest, role: Role) -> bool:
    return has_role(request.user, role)


def explain(request: HttpRequest, error: DomainError) -> None:
    """A domain error as the page shows it: the service's sentence, which names the item or
    field, for an operator to act on."""
    messages.error(request, error.message)


def roles(request: HttpRequest) -> dict[str, Any]:
    """Template context: the user's role, and what it allows."""
    role = user_role(getattr(request, "user", None))
    return {
        "role": role.name.lower() if role else "",
        "is_engineer": role is not None and role >= Role.ENGINEER,
    }
