"""Two versions of a mail template side by side, line by line (difflib), for the editor's
「差分」 page and the confirmation before a revert.

The result is plain data the page shows as a table: each row says in words whether its line was
追加 (added) or 削除 (removed), with a ＋ / － sign, so the change reads without colour (the
colours only help). Unchanged lines are kept around each change (`context`), the rest folded
into a 「…（N行 同じ）」 row.

    compare(old, new) → Diff(rows=(Row(kind, old_no, new_no, text), …), added, removed)
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from bot.templating import store

SAME, ADDED, REMOVED, FOLDED = "same", "added", "removed", "folded"
# What a row is, as the page says it (and as a screen reader reads it).
WORDS = {SAME: "", ADDED: "追加", REMOVED: "削除", FOLDED: ""}
SIGNS = {SAME: "", ADDED: "＋", REMOVED: "－", FOLDED: ""}


@dataclass(frozen=True)
class Row:
    kind: str  # SAME, ADDED, REMOVED, FOLDED
    old_no: int | None  # line number in the old text (None: not there)
    new_no: int | None
    text: str  # the line (FOLDED: how many unchanged lines are left out)

    @property
    def word(self) -> str:
        return WORDS[self.kind]

    @property
    def sign(self) -> str:
        return SIGNS[self.kind]


@dataclass(frozen=True)
class Diff:
    rows: tuple[Row, ...]
    added: int
    removed: int

    @property
    def same(self) -> bool:
        return not self.added and not self.removed


def compare(old: str, new: str, *, context: int = 3) -> Diff:
    """`old` → `new` line by line (line ends normalised as the store saves them)."""
    a = store.normalise(old).split("\n")
    b = store.normalise(new).split("\n")
    if a == b:
        return Diff((), 0, 0)
    rows: list[Row] = []
    added = removed = 0
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    groups = list(matcher.get_grouped_opcodes(context))
    shown_to = 0  # lines of `a` shown (or folded) so far
    for group in groups:
        first = group[0]
        if first[1] > shown_to:
            rows.append(Row(FOLDED, None, None, f"…（{first[1] - shown_to}行 同じ）"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows += [Row(SAME, i + 1, j1 + (i - i1) + 1, a[i]) for i in range(i1, i2)]
                continue
            if tag in ("replace", "delete"):
                rows += [Row(REMOVED, i + 1, None, a[i]) for i in range(i1, i2)]
                removed += i2 - i1
            if tag in ("replace", "insert"):
                rows += [Row(ADDED, None, j + 1, b[j]) for j in range(j1, j2)]
                added += j2 - j1
        shown_to = group[-1][2]
    if groups and shown_to < len(a):
        rows.append(Row(FOLDED, None, None, f"…（{len(a) - shown_to}行 同じ）"))
    return Diff(tuple(rows), added, removed)
