"""Which third-party imports of the project pyproject.toml does not declare (issue 17).

A module installed on one machine by hand but declared nowhere passes every local run and breaks
the README's commands on a fresh one. This reads every ``import`` of the given folders with
:mod:`ast`, drops the standard library, the project's own modules and imports guarded by
``except ImportError`` (optional tools, imported behind a clear message), and maps each remaining
top-level module to the distribution that provides it (``importlib.metadata``; a module that is
not installed at all is taken to be its own distribution name). Whatever maps to no distribution
named in ``[project] dependencies`` or an optional extra is reported with its files and lines.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FOLDERS = ("bot", "tests", "bench", "scripts")
_OPTIONAL = {"ImportError", "ModuleNotFoundError"}


def norm(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(pyproject: Path) -> set[str]:
    """The distributions named in dependencies and every optional extra."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    reqs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return {norm(re.split(r"[\s\[<>=!~;(]", r.strip(), maxsplit=1)[0]) for r in reqs if r.strip()}


@dataclass(frozen=True)
class Undeclared:
    module: str
    distributions: tuple[str, ...]
    places: tuple[str, ...]  # "path:line"

    def __str__(self) -> str:
        where = ", ".join(self.places[:3]) + (f" and {len(self.places) - 3} more" if len(self.places) > 3 else "")
        return f"{self.module} (distribution {' / '.join(self.distributions)}) imported at {where}"


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Try):
            for handler in node.handlers:
                names = set()
                if isinstance(handler.type, ast.Name):
                    names = {handler.type.id}
                elif isinstance(handler.type, ast.Tuple):
                    names = {e.id for e in handler.type.elts if isinstance(e, ast.Name)}
                if names & _OPTIONAL:
                    return True
    return False


def imports(path: Path) -> Iterator[tuple[str, int]]:
    """(top-level module, line) of every absolute, unguarded import in one file."""
    tree = ast.parse(path.read_bytes(), str(path))
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if _guarded(node, parents):
            continue
        for name in names:
            yield name.split(".")[0], node.lineno


def local_modules(root: Path, folders: tuple[str, ...]) -> set[str]:
    """Names the project's files import without any distribution: its top folders (imported as
    packages: ``from tests.support import …``) and the modules at its root."""
    return {f for f in folders if (root / f).exists()} | {p.stem for p in root.glob("*.py")}


def undeclared(root: Path, folders: tuple[str, ...] = FOLDERS) -> list[Undeclared]:
    wanted = declared(root / "pyproject.toml")
    own = local_modules(root, folders)
    providers = md.packages_distributions()
    found: dict[str, list[str]] = {}
    for folder in folders:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            for module, line in imports(path):
                if module in sys.stdlib_module_names or module in own or module == "__future__":
                    continue
                found.setdefault(module, []).append(f"{path.relative_to(root)}:{line}")
    out = []
    for module, places in sorted(found.items()):
        dists = tuple(sorted({norm(d) for d in providers.get(module, [module])}))
        if not set(dists) & wanted:
            out.append(Undeclared(module, dists, tuple(places)))
    return out
