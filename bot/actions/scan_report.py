"""Shadow figures (issue 19 point 6): how often the scan reader agreed with the person who
finished each held scan, counted from ``scan_shadows`` (written by
:mod:`bot.actions.scan_shadow`). ``bot scans report`` and the console's 状態 page read
:func:`report`; the counting itself (:func:`figures`) is pure.

Per field, each finished scan that has the field counts once as:
- 一致 (agreed): the bot stood by its value (sure, and a value it reads: ``read`` / ``empty``)
  and the person's final value is the same (typed in, or let through to the vendor at 受付);
- 不一致 (disagreed): the bot stood by its value and the person's is different: a would-be
  misreading, the figure that must stay at zero before the bot decides more;
- 保留 (unsure): the bot did not stand by a value (unsure, or handwriting it does not read);
- 照合なし (unchecked): the bot stood by its value and the person gave none to compare (差戻, 対応済み).
Per decision: the bot's would-be decision against the person's outcome; 受付 agrees with 受付,
差戻 with 差戻 (and ``same_defects`` when the codes are the same), 保留 with 対応済み (the person
finished it outside the bot). Per defect code: sent back by both, by the bot only (a would-be
false 差戻), by the person only (missed, or resting on a reading the bot was not sure of).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import ScanShadow
from bot.domain import vocab
from bot.forms.vocabulary import FIELD_NAMES

# ScanShadow.outcome (the person's) and ScanShadow.bot_decision (the bot's would-be).
ACCEPTED, REJECTED, DONE = "accepted", "rejected", "done"
ACCEPT, REJECT, HOLD = "accept", "reject", "hold"
OUTCOMES, BOT_DECISIONS = (ACCEPTED, REJECTED, DONE), (ACCEPT, REJECT, HOLD)
AGREES = {ACCEPT: ACCEPTED, REJECT: REJECTED, HOLD: DONE}
FORM_KINDS = ("dedicated", "integrated", "termination")
# The reading states whose value the bot stands by (a vendor cell gets it: bot/vendor/forms.py).
STANDING = frozenset({"read", "empty"})
VERDICTS = ("agreed", "disagreed", "unsure", "unchecked")
_ORDER = {name: i for i, name in enumerate((*FIELD_NAMES, "spot_selected", "termination_date"))}
# What a person reads (the CLI's text and the console).
OUTCOME_LABELS = {ACCEPTED: vocab.DECISIONS["accepted"], REJECTED: vocab.DECISIONS["rejected"], DONE: vocab.RESOLVED}
BOT_LABELS = {ACCEPT: vocab.DECISIONS["accepted"], REJECT: vocab.DECISIONS["rejected"], HOLD: vocab.DECISIONS["manual"]}
FORM_LABELS = vocab.FORM_KINDS


def stands(entry: Mapping[str, Any]) -> bool:
    """The bot stood by this field's value."""
    return bool(entry.get("sure")) and entry.get("state") in STANDING


def _plain(value: object) -> str:
    text = unicodedata.normalize("NFKC", "" if value is None else str(value))
    return "".join(c for c in text if not c.isspace() and c not in "-‐‑‒–—―−ー").casefold()


def verdict(entry: Mapping[str, Any]) -> str:
    """One field of one finished scan: agreed / disagreed / unsure / unchecked."""
    if not stands(entry):
        return "unsure"
    if entry.get("source") not in ("typed", "kept"):
        return "unchecked"
    return "agreed" if _plain(entry.get("value")) == _plain(entry.get("person")) else "disagreed"


@dataclass(frozen=True)
class FieldFigures:
    name: str
    count: int
    agreed: int
    disagreed: int
    unsure: int
    unchecked: int
    typed: int  # of them, how many the person typed in

    def as_json(self) -> dict[str, int]:
        return {"count": self.count, "agreed": self.agreed, "disagreed": self.disagreed, "unsure": self.unsure,
                "unchecked": self.unchecked, "typed": self.typed}


@dataclass(frozen=True)
class DecisionFigures:
    bot: str  # the bot's would-be decision: accept | reject | hold
    count: int
    outcomes: Mapping[str, int]  # the person's outcome → scans
    agreed: int
    same_defects: int  # 差戻 by both with the same codes (0 for accept and hold)

    def as_json(self) -> dict[str, Any]:
        return {"count": self.count, **{o: self.outcomes.get(o, 0) for o in OUTCOMES}, "agreed": self.agreed,
                "same_defects": self.same_defects}


@dataclass(frozen=True)
class DefectFigures:
    code: str
    both: int
    bot_only: int
    person_only: int

    def as_json(self) -> dict[str, int]:
        return {"both": self.both, "bot_only": self.bot_only, "person_only": self.person_only}


@dataclass(frozen=True)
class Report:
    since: dt.date | None
    scans: int
    forms: Mapping[str, int]  # form kind → scans
    fields: tuple[FieldFigures, ...]
    decisions: tuple[DecisionFigures, ...]
    defects: tuple[DefectFigures, ...]

    def as_json(self) -> dict[str, Any]:
        """Stable English keys (``bot scans report --json``)."""
        return {"since": self.since.isoformat() if self.since else None, "scans": self.scans,
                "forms": {k: self.forms.get(k, 0) for k in FORM_KINDS},
                "fields": {f.name: f.as_json() for f in self.fields},
                "decisions": {d.bot: d.as_json() for d in self.decisions},
                "defects": {d.code: d.as_json() for d in self.defects}}


def figures(rows: Iterable[ScanShadow], *, since: dt.date | None = None) -> Report:
    """Count the rows (pure)."""
    rows = list(rows)
    per_field: dict[str, Counter[str]] = {}
    for row in rows:
        for name, entry in (row.fields or {}).items():
            counts = per_field.setdefault(name, Counter())
            counts[verdict(entry)] += 1
            counts["typed"] += entry.get("source") == "typed"
    fields = tuple(FieldFigures(name, sum(c[v] for v in VERDICTS), c["agreed"], c["disagreed"], c["unsure"],
                                c["unchecked"], c["typed"])
                   for name, c in sorted(per_field.items(), key=lambda item: (_ORDER.get(item[0], len(_ORDER)), item[0])))
    decisions = []
    for bot in BOT_DECISIONS:
        mine = [r for r in rows if r.bot_decision == bot]
        outcomes = Counter(r.outcome for r in mine)
        same = sum(1 for r in mine if bot == REJECT and r.outcome == REJECTED
                   and set(r.bot_defects or ()) == set(r.person_defects or ()))
        decisions.append(DecisionFigures(bot, len(mine), dict(outcomes), outcomes[AGREES[bot]], same))
    defects: dict[str, Counter[str]] = {}
    for row in rows:
        bot, person = set(row.bot_defects or ()), set(row.person_defects or ())
        for code in bot | person:
            side = "both" if code in bot and code in person else "bot_only" if code in bot else "person_only"
            defects.setdefault(code, Counter())[side] += 1
    return Report(since, len(rows), dict(Counter(r.form_kind for r in rows)), fields, tuple(decisions),
                  tuple(DefectFigures(code, c["both"], c["bot_only"], c["person_only"])
                        for code, c in sorted(defects.items(), key=lambda item: (-sum(item[1].values()), item[0]))))


def report(session: Session, *, since: dt.date | None = None, tz: dt.tzinfo = dt.UTC) -> Report:
    """The figures of the scans finished since the start of `since` (office time), or of all."""
    query = select(ScanShadow).order_by(ScanShadow.id)
    if since is not None:
        query = query.where(ScanShadow.finished_at >= dt.datetime.combine(since, dt.time(0), tzinfo=tz))
    return figures(session.scalars(query), since=since)
