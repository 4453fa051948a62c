"""The pipeline as stages with one job each (issue 20 point 2): a module per stage under
bot/pipeline/, the processor only composing them, and nothing in bot/ reaching into another
module's or object's private state (a name with a leading underscore, read through a module, an
object or an import). Read with `ast`; the exceptions are the standard library's, named below."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot"
# The standard library's own private names we must use: argparse has no public name for the
# type of add_subparsers(); the header-only parse of bot/mail/mime.py reads what the parser
# kept as body as stored (get_payload() would decode it with a hostile charset).
STDLIB = {"argparse._SubParsersAction", "msg._payload"}
STAGES = ("store", "claim", "read", "decision", "act", "quarantine", "filing", "outcome")


def private_reads(source: str) -> list[str]:
    """`x._name` where x is not self, cls or super(), and `from bot... import _name`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bot"):
            found += [f"from {node.module} import {a.name}" for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
                continue
            found.append(ast.unparse(node))
    return found


def test_the_detector_finds_a_reach_into_private_state() -> None:
    assert private_reads("x = processor._counted") == ["processor._counted"]
    assert private_reads("from bot.forms.marks import _despeckle") == ["from bot.forms.marks import _despeckle"]
    assert private_reads("class A:\n def f(self):\n  return self._x, super()._y") == []


def test_nothing_reaches_into_another_modules_private_state() -> None:
    reads = []
    for path in sorted(BOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        reads += [f"{rel}: {r}" for r in private_reads(path.read_text(encoding="utf-8")) if r not in STDLIB]
    assert reads == []


def test_a_module_per_stage_and_the_processor_only_composes() -> None:
    """Each stage is a module of bot/pipeline/ under ~400 lines; the processor runs no SQL of its
    own (the stages do) and the package's __init__ imports nothing (importing the folder names
    does not load the pipeline)."""
    pipeline = BOT / "pipeline"
    for stage in STAGES:
        lines = (pipeline / f"{stage}.py").read_text(encoding="utf-8").count("\n")
        assert lines <= 400, (stage, lines)
    processor = ast.parse((pipeline / "processor.py").read_text(encoding="utf-8"))
    names = {n.id for n in ast.walk(processor) if isinstance(n, ast.Name)}
    assert not names & {"select", "update", "insert", "delete", "Mail"} - {"Mail"}, names
    init = ast.parse((pipeline / "__init__.py").read_text(encoding="utf-8"))
    assert not [n for n in init.body if isinstance(n, ast.Import | ast.ImportFrom)]
