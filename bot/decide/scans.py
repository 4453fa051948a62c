"""How a scanned form is decided: only on what its reader is sure of (DESIGN.md "The form").

A misreading must never reach a branch. So for a scan:
- a defect that rests on the form stands only when every reading it rests on is SURE and KNOWN
  (a value read, a cell surely empty, marks surely set: not merely "filled" with handwriting),
  or when it stands without the form at all (a body line missing, a subject code disagreeing
  with the body); and only codes in ``reject_codes`` may send a scan back;
- the scan is accepted only when ``accept`` is on and every reading the checks need is sure;
- anything else is held for a person (manual), naming the readings that were not sure.
Checks that need handwriting exactly (the katakana reading of the address, the SSID's width,
the shop name against UNIS) are never run on a scan. Pure: facts and defects in, a verdict out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from bot.checks.base import SCAN_REJECT_CODES, Check, Defect, Facts, run_checks
from bot.domain import classify, vocab
from bot.forms import FormReading

# The readings each form defect rests on. None: never decided from a scan.
EVIDENCE: dict[str, tuple[str, ...] | None] = {
    "CUSTOMER_CODE_MISMATCH": ("customer_code",),
    "LINE_KIND_MISSING": ("line_kind",),
    "LINE_TYPE_MISSING": ("line_kind", "line_type"),
    "MAIL_ADDRESS_MISSING": ("mail_local", "mail_reading"),
    "PLUS_FLAG_MISMATCH": ("plus",),
    "SPOT_NOT_SELECTED": ("spot_selected",),  # 統合申込書: the USEN SPOT row surely unticked
    "UNIT_COUNT_MISSING": ("parent_units", "child_units", "remarks"),
    "MAIL_ADDRESS_INVALID": None,
    "MAIL_ADDRESS_READING_MISMATCH": None,
    "SSID_NOT_HALFWIDTH": None,
    "SHOP_NAME_DIFFERS": None,
}
# Defects that say "nothing was written": a cell the reader is sure holds writing contradicts
# them (the checks see handwriting as None, since it is not read).
_ABSENCE = frozenset({"MAIL_ADDRESS_MISSING"})
# What must be surely read (or surely filled, for handwriting) before a scan can be accepted.
NEEDED = ("customer_code", "line_kind", "mail_local", "plus")
# An OriginalSSID追加申請's scan is accepted only with the code and the SSID read (a value, not
# merely "written": the router is set to it).
NEEDED_SSID = ("customer_code", "ssid")
_KNOWN = frozenset({"read", "empty", "marked", "unmarked"})
_PRESENT = _KNOWN | {"filled"}

def label(name: str) -> str:
    """A reading or defect as staff read it (the office's words, bot/domain/vocab.py): 'ご利用回線タイプ（line_type）'."""
    return f"{vocab.FIELDS[name]}（{name}）" if name in vocab.FIELDS else name


DEFAULT_REJECT_CODES = SCAN_REJECT_CODES


@dataclass(frozen=True)
class ScanVerdict:
    defects: tuple[Defect, ...]  # sure defects (may send the scan back)
    unsure: tuple[str, ...]  # readings that kept a defect or the acceptance from being decided
    held: tuple[str, ...]  # sure defects whose codes a scan is not sent back for (yet)

    @property
    def decidable(self) -> bool:
        return not self.unsure and not self.held


def scanned_form(f: Facts) -> FormReading | None:
    form = f.form
    return form if form is not None and form.shape == "scanned" else None


def _known(form: FormReading, name: str, states: frozenset[str]) -> bool:
    reading = form.reading(name)
    return reading is not None and reading.sure and reading.state in states and name not in form.unsure


def judge(f: Facts, defects: Sequence[Defect], chain: Sequence[Check], *,
          reject_codes: Sequence[str] = DEFAULT_REJECT_CODES) -> ScanVerdict:
    """Split a scan's defects into sure ones and ones that rest on unsure readings."""
    form = scanned_form(f)
    assert form is not None
    without_form = None
    sure: list[Defect] = []
    unsure: list[str] = []
    held: list[str] = []
    for defect in defects:
        evidence = EVIDENCE.get(defect.code, ())
        if evidence == ():
            sure.append(defect)  # not about the form (body, subject, UNIS, CC)
            continue
        if without_form is None:
            without_form = run_checks(chain, dataclasses.replace(f, forms=()))
        if without_form is not None and defect.code in {d.code for d in without_form}:
            sure.append(defect)  # it stands without the form too
            continue
        if defect.code in _ABSENCE and any(_known(form, n, frozenset({"filled", "read"})) for n in evidence or ()):
            # contradicted: the reader is sure the cell holds writing (handwriting, not read).  But an
            # address surely left blank beside a reading only known as "written" gives the vendor no
            # address: a person reads it (seed 10202: a heading read as the reading's writing, accepted)
            if defect.code == "MAIL_ADDRESS_MISSING" and _known(form, "mail_local", frozenset({"empty"})):
                unsure.extend(n for n in evidence or () if _known(form, n, frozenset({"filled"})))
            continue
        missing = [n for n in (evidence or ()) if not _known(form, n, _KNOWN)]
        if evidence is None or missing:
            unsure.extend(missing or [defect.code])
            continue
        sure.append(defect)
    for defect in sure:
        if EVIDENCE.get(defect.code, ()) != () and defect.code not in reject_codes:
            held.append(defect.code)
    return ScanVerdict(tuple(sure), tuple(dict.fromkeys(unsure)), tuple(held))


def unread_needed(f: Facts) -> tuple[str, ...]:
    """The readings acceptance needs that the reader is not sure of (line_type too for Bフレッツ)."""
    form = scanned_form(f)
    assert form is not None
    if f.classification.kind == classify.ORIGINAL_SSID:  # the SSID form: its code and the SSID itself
        return tuple(n for n in NEEDED_SSID if not _known(form, n, frozenset({"read"})))
    needed = list(NEEDED)
    if form.fields is not None and form.fields.line_kind == "b_flets":
        needed.append("line_type")
    unread = tuple(n for n in needed if not _known(form, n, _PRESENT))
    # An unsure ファミリー/マンション mark beside フレッツ光ネクスト may mean the kind was misread:
    # not accepted either.
    if "line_type" in form.unsure and "line_type" not in needed:
        unread += ("line_type",)
    return unread
