"""What a decision is: one of four outcomes (DESIGN.md "Decisions"), with every defect found."""

from __future__ import annotations

from dataclasses import dataclass

from bot.checks.base import Defect

ACCEPTED = "accepted"  # action done or queued
REJECTED = "rejected"  # 差戻 listing every defect
MANUAL = "manual"  # held for office staff
IGNORED = "ignored"  # never answered

UNKNOWN_KIND = "UNKNOWN_KIND"

# Sub-kinds of 器材発注依頼: a new install with the application form, or a child unit
# (子機) added or exchanged for an active customer, which needs no form (manual §V).
NEW_INSTALL = "new_install"
CHILD_UNIT = "child_unit"


@dataclass(frozen=True)
class Decision:
    kind: str | None
    customer_code: str | None
    decision: str
    defects: tuple[Defect, ...] = ()
    warnings: tuple[Defect, ...] = ()
    reason: str = ""  # why manual/ignored (or why a person's 受付 is refused), in words for people
    variant: str | None = None  # e.g. new_install / child_unit

    @property
    def defect_codes(self) -> list[str]:
        return [d.code for d in self.defects]

    @property
    def warning_codes(self) -> list[str]:
        return [w.code for w in self.warnings]
