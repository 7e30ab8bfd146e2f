"""core is the ground floor: it imports no other app of the project, and its roles and
idempotency store behave as the API and the pages rely on."""

import ast
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.db import IntegrityError, transaction

from core.errors import ErrorCode, InvalidInput
from core.idempotency import first_response, keep_response, replace_response
from core.roles import Role, has_role, user_role

ROOT = Path(__file__).resolve().parents[2]
PROJECT_APPS = {"api", "web", "lots", "traceability", "measurements", "datasets", "audit", "bench", "config"}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
    return roots


def test_core_imports_no_other_app_of_the_project():
    found = {str(p.relative_to(ROOT)): _imported_roots(p) & PROJECT_APPS for p in (ROOT / "core").rglob("*.py")}
    assert {path: apps for path, apps in found.items() if apps} == {}


def test_a_registry_code_answers_as_its_text():
    error = InvalidInput("x", code=ErrorCode.BAD_UNIT)
    assert error.code == "bad_unit" and f"{error.code}" == "bad_unit"


def test_roles_rank_operator_engineer_admin(operator: User, engineer: User, admin_user: User):
    assert user_role(AnonymousUser()) is None and not has_role(AnonymousUser(), Role.OPERATOR)
    assert has_role(operator, Role.OPERATOR) and not has_role(operator, Role.ENGINEER)
    assert has_role(engineer, Role.ENGINEER) and not has_role(engineer, Role.ADMIN)
    assert has_role(admin_user, Role.ADMIN)


def test_a_user_without_a_role_group_has_none(db: Any):
    user = User.objects.create_user("nobody")
    assert user_role(user) is None and not has_role(user, Role.OPERATOR)


@pytest.mark.django_db
def test_a_key_is_kept_once_per_user_and_its_response_replaced(operator: User, engineer: User):
    entry = keep_response(
        user_id=operator.pk, key="k", method="POST", path="/api/x/", body_sha256="s", status_code=201, response={}
    )
    replace_response(entry_id=entry, response={"id": 7})
    kept = first_response(user_id=operator.pk, key="k")
    assert kept is not None and (kept.status_code, kept.response, kept.body_sha256) == (201, {"id": 7}, "s")
    assert first_response(user_id=engineer.pk, key="k") is None  # keys are per user
    with pytest.raises(IntegrityError), transaction.atomic():
        keep_response(
            user_id=operator.pk, key="k", method="POST", path="/api/x/", body_sha256="t", status_code=201, response={}
        )
