"""Rules the export pages and the API share: who sees which exports, and the split a request
that names only its grouping gets."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from core.roles import Role, user_role

from .models import Export

# A split that names only `by`: a fifth of the groups to test, drawn with seed 0 (API.md).
SPLIT_TEST_DEFAULT = 0.2
SPLIT_SEED_DEFAULT = 0


def sees_every_export(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user_role(user) == Role.ADMIN


def exports_visible(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Export]:
    """Admins see every export; anyone else only their own (another's is not found, not forbidden:
    ids are guessable)."""
    exports = Export.objects.select_related("created_by")
    if sees_every_export(user):
        return exports
    return exports.filter(created_by_id=user.pk)


def split_default(by: str) -> dict[str, Any]:
    """The split of a request that chooses only what to group by."""
    return {"by": by, "test": SPLIT_TEST_DEFAULT, "seed": SPLIT_SEED_DEFAULT}
