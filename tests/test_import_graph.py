"""No import circle in bot/, also not through an import inside a function (issue 20, point 3).

An import inside a function hides a circle from Python (the module is loaded later, when the
function runs) but not from a reader: the lower module still depends on the upper one. So the
graph here counts every import, at module level or in a function; only those under
``if TYPE_CHECKING:`` are left out (annotations, never executed). Loading ``bot.vendor.model``
from outside bot/vendor/ runs bot/vendor/__init__.py first, so that edge counts too.
bot/commands/ and bot/cli.py are the top and need no exemption: nothing below imports them.

IMAP stays in the intake: imapclient and imaplib imported, IMAP's byte keys (b"BODY[]") read
and intake.Mailbox subclassed only there."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot"

# The intake: the modules that speak IMAP (the mailbox, and its connection: TLS, login, OAuth2).
INTAKE = "bot.intake"  # the package and every module in it
# The embedded demo runs an IMAP server in-process and seeds it as a client would.
IMAP_SERVER = {"bot.demo.embedded"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(BOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, in functions too, except the body of an `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _targets(name: str, path: Path, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    """The bot modules one import statement loads (the package itself left out when a submodule
    is named: `from bot.forms import ocr` depends on bot.forms.ocr, not on all of bot.forms)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in modules}
    if node.level:
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        package = package[:len(package) - (node.level - 1)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    targets: set[str] = set()
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if sub in modules:
            targets.add(sub)
        elif base in modules:
            targets.add(base)
    return targets


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[name] = set()
        for node in _import_nodes(tree):
            for target in _targets(name, path, node, modules):
                graph[name] |= {target, *_packages_run(name, target, modules)}
        graph[name].discard(name)  # `from . import x` in a package's __init__ names itself first
    return graph


def _packages_run(importer: str, target: str, modules: dict[str, Path]) -> set[str]:
    """The packages whose __init__ runs first when ``importer`` loads ``target``: those of its
    parents that are not the importer's own (a module's own packages are already loading)."""
    own = importer.split(".")
    parts = target.split(".")
    return {".".join(parts[:n]) for n in range(1, len(parts))
            if parts[:n] != own[:n] and ".".join(parts[:n]) in modules}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, and modules importing themselves
    (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph[node]:
                        found.append(sorted(component))
    return found


def _path_within(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One circle through the component's first module, for the failure message."""
    members, start = set(component), component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & members):
            if child == start:
                return [*paths[node], start]
            if child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    return component


def test_the_graph_is_read() -> None:
    """The graph sees module-level, function-level and relative imports, not TYPE_CHECKING ones."""
    graph = import_graph()
    assert len(graph) > 100
    assert "bot.config" in graph["bot.daemon.main"]
    assert "bot.forms.normalise" in graph["bot.forms.termination"]


def test_the_reader_counts_imports_in_functions_and_leaves_out_type_checking() -> None:
    """Given imports under TYPE_CHECKING, in a function, and relative, only the last two count;
    a package's __init__ counts for a module outside it, not for its own submodules."""
    code = ("from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from bot import daemon\n"
            "def f():\n    from bot.forms import ocr\n    from . import config\n")
    modules = {"bot.daemon.main": BOT, "bot.forms": BOT, "bot.forms.ocr": BOT, "bot.config": BOT, "bot.x": BOT}
    nodes = _import_nodes(ast.parse(code))
    targets = set().union(*(_targets("bot.x", BOT / "x.py", n, modules) for n in nodes))
    assert targets == {"bot.forms.ocr", "bot.config"}
    assert _packages_run("bot.digest.send", "bot.vendor.model", modules | {"bot.vendor": BOT}) == {"bot.vendor"}
    assert _packages_run("bot.vendor.batch", "bot.vendor.model", modules | {"bot.vendor": BOT}) == set()


def test_no_import_circle() -> None:
    graph = import_graph()
    circles = [" → ".join(_path_within(graph, c)) + f"  ({len(c)} modules: {', '.join(c)})"
               for c in _cycles(graph)]
    assert circles == [], "import circles in bot/:\n" + "\n".join(circles)


# An IMAP response key or capability as imapclient hands it over: b"BODY[]", b"UIDVALIDITY".
_IMAP_KEY = re.compile(rb"^[A-Z][A-Z0-9.\-]*(\[[^\]]*\])?$")


def test_imap_only_in_the_intake() -> None:
    """imapclient and imaplib are imported, IMAP's byte keys read, and intake.Mailbox subclassed
    only in the intake (the embedded demo server apart: it seeds its mailbox as a client)."""
    importers: set[str] = set()
    keys: set[str] = set()
    subclasses: set[str] = set()
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _import_nodes(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(n.split(".")[0] in ("imapclient", "imaplib") for n in names):
                importers.add(name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, bytes) and len(node.value) > 2 \
                    and _IMAP_KEY.match(node.value):
                keys.add(f"{name}:{node.lineno} {node.value!r}")
            if isinstance(node, ast.ClassDef) and any(
                    (isinstance(b, ast.Name) and b.id == "Mailbox") or (isinstance(b, ast.Attribute) and b.attr == "Mailbox")
                    for b in node.bases):
                subclasses.add(f"{name}.{node.name}")
    def allowed(module: str, *, server: bool = True) -> bool:
        return module == INTAKE or module.startswith(INTAKE + ".") or (server and module in IMAP_SERVER)

    assert sorted(m for m in importers if not allowed(m)) == [], "IMAP libraries imported outside the intake"
    assert sorted(k for k in keys if not allowed(k.split(":")[0])) == [], "IMAP keys read outside the intake"
    assert sorted(c for c in subclasses if not allowed(c.rsplit(".", 1)[0], server=False)) == [], \
        "Mailbox subclassed outside"
