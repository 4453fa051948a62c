"""Every third-party module the project imports is declared in pyproject.toml (issue 17): a fresh
machine installs only what is declared, so an undeclared import passes here and fails there."""

from __future__ import annotations

from pathlib import Path

from tests.support.declared_imports import undeclared

ROOT = Path(__file__).resolve().parents[1]


def test_every_import_of_the_project_is_declared() -> None:
    missing = undeclared(ROOT)
    assert not missing, "imported but not declared in pyproject.toml:\n" + "\n".join(map(str, missing))


def _project(tmp_path: Path, code: str, deps: str = '"numpy>=1"') -> Path:
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "x"\ndependencies = [{deps}]\n'
        '[project.optional-dependencies]\ntest = ["pytest>=8"]\n', encoding="utf-8")
    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "bot" / "mod.py").write_text(code, encoding="utf-8")
    return tmp_path


def test_an_undeclared_import_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    """Given a module that imports Pillow (installed here for the tests, declared nowhere in
    that project), the check names the module, its distribution and where it is imported."""
    root = _project(tmp_path, "import os\nimport numpy\n\nfrom PIL import Image\n")
    [found] = undeclared(root)
    assert found.module == "PIL" and found.distributions == ("pillow",)
    assert found.places == ("bot/mod.py:4",)


def test_a_module_that_is_not_installed_at_all_is_named_too(tmp_path: Path) -> None:
    root = _project(tmp_path, "import surely_not_a_module_anyone_has\n")
    assert [u.module for u in undeclared(root)] == ["surely_not_a_module_anyone_has"]


def test_declared_extras_stdlib_own_packages_and_optional_imports_pass(tmp_path: Path) -> None:
    """A test-extra import, the standard library, the project's own packages and an import behind
    ``except ImportError`` (an optional tool with a clear message) are all fine."""
    root = _project(tmp_path, "import json, sqlite3\nimport pytest\nfrom bot import mod\n"
                              "try:\n    import pyinstrument_missing\nexcept ImportError:\n    raise SystemExit('x')\n")
    assert undeclared(root) == []
