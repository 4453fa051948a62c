"""Each vocabulary is defined once (issue 20 point 4): the office's words for decisions, kinds,
defect codes, fields, options, form kinds, ledger events, outbox and job states live in
bot/domain/vocab.py (kinds and ledger states in their owners, bot/domain/classify.py and bot/ledger/__init__.py), and
every other module reads them from there. A second table spelling the same words is what drifts
(無視 in one place, 対象外 in another): this test reads bot/ with `ast` and fails on one."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

from bot.actions.reply_samples import ALL_DEFECT_CODES
from bot.checks.base import (
    SCAN_REJECT_CODES,
    SCAN_TERMINATION_REJECT_CODES,
    RuleSettings,
)
from bot.config import ScansConfig
from bot.domain import vocab

ROOT = Path(__file__).resolve().parents[1] / "bot"
OWNERS = {"bot/domain/vocab.py", "bot/domain/classify.py", "bot/ledger/__init__.py"}
# Formats of others, fixed by them, that happen to share words with the office's: the vendor's CSV
# header (a change of the office's words must not change the vendor's file).
FOREIGN = {("bot/vendor/forms.py", "HEADERS")}


def _tables() -> dict[str, Mapping[str, str]]:
    return {name: table for name in dir(vocab) if name.isupper()
            and isinstance(table := getattr(vocab, name), Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in table.items())}


def second_spellings(source: str, tables: Mapping[str, Mapping[str, str]],
                     foreign: frozenset[str] = frozenset()) -> list[tuple[int, str]]:
    """Dict literals that copy two or more of a table's words (same key, same word); those
    assigned to a name in `foreign` are left alone."""
    tree = ast.parse(source)
    skip = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign | ast.AnnAssign)
            and any(isinstance(t, ast.Name) and t.id in foreign
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict) or id(node) in skip:
            continue
        pairs = [(k.value, v.value) for k, v in zip(node.keys, node.values, strict=True)
                 if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
                 and isinstance(k.value, str) and isinstance(v.value, str)]
        for name, table in tables.items():
            if sum(1 for k, v in pairs if table.get(k) == v) >= 2:
                found.append((node.lineno, name))
    return found


def test_the_scan_finds_a_copied_table() -> None:
    """The detector itself: a module that spells decisions again is caught; one that reads
    vocab, or maps the same keys to something else (CSS classes), is not."""
    tables = _tables()
    assert second_spellings('LABELS = {"accepted": "受付", "rejected": "差戻"}', tables) == [(1, "DECISIONS")]
    assert second_spellings('CLASSES = {"accepted": "ok", "rejected": "ng"}', tables) == []
    assert second_spellings("LABELS = dict(vocab.DECISIONS)", tables) == []


def test_no_module_spells_the_office_words_a_second_time() -> None:
    tables = _tables()
    copies = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).as_posix()
        if rel not in OWNERS:
            copies += [f"{rel}:{line} copies vocab.{name}" for line, name in
                       second_spellings(path.read_text(encoding="utf-8"), tables,
                                        frozenset(name for file, name in FOREIGN if file == rel))]
    assert copies == []


def test_codes_and_defaults_are_the_one_list() -> None:
    """The defect codes the templates explain are the office's list; the scan defaults of the
    config and of the rule settings are one tuple each."""
    assert ALL_DEFECT_CODES == tuple(vocab.DEFECTS)
    assert ScansConfig().reject_codes is SCAN_REJECT_CODES
    assert ScansConfig().termination_reject_codes is SCAN_TERMINATION_REJECT_CODES
    assert RuleSettings.__dataclass_fields__["scan_reject_codes"].default is SCAN_REJECT_CODES
