"""docs/api.md stays honest: its error-code table is exactly the one registry of codes
(core.errors.ErrorCode), which holds every code the code can answer with; and every /api/ path
it names is routed, except those marked planned (which must not be routed yet: once they are,
the guide has to say so)."""

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import Resolver404, resolve
from rest_framework import exceptions as drf

from api.errors import _STATUS
from core.errors import ErrorCode

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "api.md"
SOURCE_APPS = ("api", "lots", "traceability", "measurements", "datasets", "connectors", "audit")

# Codes the code answers with beyond the registry's members it names: literals at the calls that
# raise or answer errors (the code's keyword, or its position) ...
ERROR_CALLS = {"InvalidInput": None, "NotFound": None, "Conflict": None, "ValidationError": None}
ERROR_CALLS |= {"refuse": 2, "RowError": 3, "error_response": 2, "_error": 2, "_json": 2}
# DRF's own exceptions that this configuration answers with (authentication classes, HasRole,
# method routing, content negotiation, the bulk view's media check), through api.errors.
DRF_ANSWERS = (
    drf.NotAuthenticated,
    drf.AuthenticationFailed,
    drf.PermissionDenied,
    drf.MethodNotAllowed,
    drf.NotAcceptable,
    drf.UnsupportedMediaType,
)
PLANNED = "(planned)"

TABLE_ROW = re.compile(r"^\| `([a-z_]+)` \| ([0-9, ]+) \| (.+) \|$")
API_PATH = re.compile(r"/api/[A-Za-z0-9_.%{}/-]*")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
EXAMPLE = {"id": "1", "pk": "1", "code": "CAL-000003"}


def _source_files() -> list[Path]:
    return [
        path
        for app in SOURCE_APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and "management" not in path.parts
    ]


def _callee(call: ast.Call) -> str:
    return getattr(call.func, "id", None) or getattr(call.func, "attr", "")


def literal_codes(tree: ast.AST) -> set[str]:
    """String codes written out where an error is raised or answered, and `default_code`s."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _callee(node) in ERROR_CALLS:
            position = ERROR_CALLS[_callee(node)]
            values = [kw.value for kw in node.keywords if kw.arg == "code"]
            if position is not None and len(node.args) > position:
                values.append(node.args[position])
            found |= {v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "default_code" for t in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                found.add(node.value.value)
    return found


def _families() -> set[str]:
    """The codes of the DomainError families the API maps to a status, and of their subclasses."""
    codes, stack = set(), list(_STATUS)
    while stack:
        family = stack.pop()
        codes.add(family.code)
        stack.extend(family.__subclasses__())
    return codes


def defined_codes() -> set[str]:
    """The one registry."""
    return {code.value for code in ErrorCode}


def answered_codes() -> set[str]:
    """Codes the code can answer with that do not name a registry member: literals, the
    families' defaults, DRF's own."""
    codes = _families()
    for path in _source_files():
        codes |= literal_codes(ast.parse(path.read_text(), filename=str(path)))
    codes |= {exc.default_code for exc in DRF_ANSWERS}
    if settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_CLASSES"):
        codes.add(drf.Throttled.default_code)
    return codes


def guide_table() -> dict[str, list[int]]:
    """The rows of the guide's "Error codes" section: code -> HTTP statuses."""
    text = GUIDE.read_text()
    section = text.split("\n## Error codes\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[int]] = {}
    for line in section.splitlines():
        if match := TABLE_ROW.match(line):
            assert match[1] not in rows, f"{match[1]} is listed twice"
            rows[match[1]] = [int(s) for s in match[2].split(",")]
    return rows


def guide_paths() -> tuple[set[str], set[str]]:
    """(paths the guide says exist, paths it marks planned)."""
    present, planned = set(), set()
    for line in GUIDE.read_text().splitlines():
        # .py: the guide names this test (tests/api/...), which is a file, not a path
        paths = {p.rstrip(".,") for p in API_PATH.findall(line) if not p.endswith(".py")}
        (planned if PLANNED in line else present).update(paths)
    return present - planned, planned


def routed(path: str) -> bool:
    """Whether a route matches the path itself: an item route's identifier takes slashes (a
    Digital Link), so /api/items/X/passport/ matches the item detail with "X/passport"."""
    try:
        match = resolve(PLACEHOLDER.sub(lambda m: EXAMPLE.get(m[1], "X-1"), path))
    except Resolver404:
        return False
    return not any("/" in str(value) for value in match.kwargs.values())


def test_every_code_in_the_guide_is_one_the_code_defines():
    assert set(guide_table()) - defined_codes() == set()


def test_every_code_the_code_defines_is_in_the_guide():
    assert defined_codes() - set(guide_table()) == set()


def test_each_row_gives_http_error_statuses():
    table = guide_table()
    assert len(table) > 40
    assert all(400 <= status < 600 for statuses in table.values() for status in statuses), table


def test_every_code_the_code_answers_is_in_the_registry():
    assert answered_codes() - defined_codes() == set()


def test_the_registry_holds_each_code_once():
    # An enum member with another's value is an alias, not a new code: none may exist.
    assert len(ErrorCode.__members__) == len(ErrorCode)
    assert all(code.value == name.lower() for name, code in ErrorCode.__members__.items())


def test_the_collection_finds_registry_family_and_drf_codes():
    # the registry (export_not_done, nul_character), a family default, DRF's own
    assert {"export_not_done", "expired", "nul_character", "conflict"} <= defined_codes()
    assert {"conflict", "not_authenticated", "permission_denied"} <= answered_codes()
    tree = ast.parse('raise Conflict("x", code="made_up")\nerror_response(409, "x", "other")\nf(code="not_one")')
    assert literal_codes(tree) == {"made_up", "other"}


def test_every_path_the_guide_names_is_routed():
    present, _ = guide_paths()
    assert len(present) > 30
    missing = sorted(p for p in present if not routed(p))
    assert missing == []


@pytest.mark.parametrize("path", sorted(guide_paths()[1]))
def test_a_path_marked_planned_is_not_routed_yet(path):
    assert not routed(path), f"{path} is built now: drop its (planned) mark in docs/api.md"


def test_an_unknown_path_is_not_routed():
    # The check above could pass by resolving anything.
    assert not routed("/api/nothing-here/")
    assert not routed("/api/items/{code}/no-such-view/")
    assert routed("/api/items/{code}/label.png")
