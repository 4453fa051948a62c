"""The layers of the command line: bot/cli.py dispatches, each command is a module of
bot/commands/ (parse, call the domain, print), and the domain modules below never print nor
parse arguments. The template samples' registry imports none of the templates' owners, so
the digest and the vendor batch can use it without an import circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import COMMAND_TABLE, COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot"

# Modules the commands call: they return values or raise; what a person reads is printed above.
DOMAIN = sorted([*BOT.glob("digest/*.py"), *BOT.glob("vendor/*.py"), *BOT.glob("templating/*.py"),
                 *BOT.glob("jobs/*.py"), BOT / "actions" / "queue.py", BOT / "actions" / "reply_samples.py"])


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


@pytest.mark.parametrize("path", DOMAIN, ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_modules_neither_print_nor_parse_arguments(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    prints = [n.lineno for n in ast.walk(tree)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"]
    assert prints == [], f"{path}: print() at lines {prints}"
    imported = _imports(tree)
    assert not imported & {"argparse", "sys", "bot.cli"}, f"{path}: imports {imported & {'argparse', 'sys', 'bot.cli'}}"
    assert not [m for m in imported if m.startswith("bot.commands")], f"{path} imports a command"


@pytest.mark.parametrize("name", ["templating/samples.py", "templating/__init__.py"])
def test_the_registry_names_no_owner_in_its_imports(name: str) -> None:
    imported = _imports(ast.parse((BOT / name).read_text(encoding="utf-8")))
    upward = [m for m in imported if m.startswith(("bot.digest", "bot.vendor", "bot.actions"))]
    assert upward == [], f"bot/{name} imports {upward}"


def test_importing_the_registry_loads_no_owner_until_a_sample_is_asked_for() -> None:
    """Given a fresh interpreter, importing bot.templating.samples (and bot.templating) leaves the
    digest and the vendor batch unloaded; the first look-up loads the owners' samples."""
    code = (
        "import sys\n"
        "import bot.templating, bot.templating.samples as t\n"
        "owners = ('bot.digest', 'bot.vendor', 'bot.actions', 'bot.jobs.link_items')\n"
        "print(sorted(m for m in sys.modules if m.startswith(owners)))\n"
        "print(sorted(t.SAMPLES))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=True)
    loaded, samples = done.stdout.splitlines()
    assert loaded == "[]"
    assert samples == ("['digest.html.j2', 'digest.txt.j2', 'link_items.txt.j2', 'monthly_report.txt.j2', 'reject.txt.j2', "
                       "'vendor_batch.txt.j2']")


def test_every_builtin_mail_has_a_sample_from_its_owner() -> None:
    from bot.templating import BUILTIN_DIR
    from bot.templating.samples import sample_for, template_names

    assert [n for n in template_names(BUILTIN_DIR) if sample_for(n) is None] == []


def test_the_command_table_is_the_parser() -> None:
    """Every command the parser knows has its handler, in the order `bot --help` lists them."""
    parser = build_parser()
    [sub] = [a for a in parser._actions if a.dest == "command"]
    assert list(sub.choices) == [name for name, _add, _handler in COMMAND_TABLE] == list(COMMANDS)


def test_cli_keeps_only_the_top() -> None:
    """bot/cli.py defines no command of its own: those are in bot/commands/."""
    tree = ast.parse((BOT / "cli.py").read_text(encoding="utf-8"))
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert functions == {"build_parser", "main"}
