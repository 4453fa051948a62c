"""The root folded into packages that show the architecture (issue 20 point 5): `ls bot/` is the
path a mail takes and the layers above it, and no module grows past ~400 lines (a screenful
over 400 is tolerated, no more: LIMIT)."""

from __future__ import annotations

from pathlib import Path

BOT = Path(__file__).resolve().parents[1] / "bot"
LIMIT = 440
ROOT_MODULES = {"__init__.py", "__main__.py", "cli.py"}
STAGES = ("intake", "pipeline", "mail", "forms", "decide", "checks", "actions")  # the path of a mail


def test_the_root_holds_packages_only() -> None:
    assert {p.name for p in BOT.glob("*.py")} == ROOT_MODULES
    packages = {p.name for p in BOT.iterdir() if (p / "__init__.py").exists()}
    assert set(STAGES) <= packages
    for package in packages:
        init = (BOT / package / "__init__.py").read_text(encoding="utf-8")
        assert init.lstrip().startswith('"""'), f"bot/{package}/ says what it is in its __init__'s docstring"


def test_no_module_over_about_400_lines() -> None:
    long = {p.relative_to(BOT.parent).as_posix(): n for p in BOT.rglob("*.py")
            if (n := p.read_text(encoding="utf-8").count("\n")) > LIMIT}
    assert long == {}
