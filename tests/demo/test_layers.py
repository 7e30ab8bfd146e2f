"""The demo is the top floor: it may import every domain app, no domain app may import it."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_APPS = ("lots", "traceability", "measurements", "datasets", "audit")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _imports_demo(path: Path) -> bool:
    return any(name == "demo" or name.startswith("demo.") for name in _imported_modules(path))


@pytest.mark.parametrize("app", DOMAIN_APPS)
def test_no_domain_app_imports_the_demo(app: str) -> None:
    files = sorted((ROOT / app).rglob("*.py"))
    assert files, f"no Python files under {app}/"
    offenders = [str(f.relative_to(ROOT)) for f in files if _imports_demo(f)]
    assert offenders == []


def test_the_check_sees_an_import_of_the_demo(tmp_path: Path) -> None:
    """The walk would catch both spellings, so the test above can fail."""
    plain, dotted, aside = tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"
    plain.write_text("import demo\n")
    dotted.write_text("from demo.line_data import CELLS\n")
    aside.write_text("from demolition import x\nfrom . import demo\n")
    assert _imports_demo(plain) and _imports_demo(dotted)
    assert not _imports_demo(aside)


def test_the_demo_is_the_last_app() -> None:
    from django.conf import settings

    assert settings.INSTALLED_APPS[-1] == "demo"
