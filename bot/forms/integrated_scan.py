"""The 統合申込書 on a scan: its services table read from the page image.

The paper 統合申込書 carries the dedicated form's rows (顧客コード, ご契約者, 設置先, 回線, メール,
担当, SSID, 台数, 備考; read by :mod:`bot.forms.scanned` as there) and, in place of the
"USEN SPOT Plus" row, a table of services inside the same ruled table: a header row whose
label cell reads サービス名称 and whose value cells read コース 数量 バンド 税別単価, then one row
per service with a printed □ in front of its name in the label cell.

How it is read (nothing here knows the layout's coordinates):

1. **The table.**  A row whose label reads サービス名称 and whose cells read コース is the header
   (:func:`find_services`).  The rows below it that hold a printed □ at the left of their label
   cell (or are a heading across the table, お得なオプションサービス) are the services.  Their
   labels are read again without the □ and its mark, and matched to the form's service names;
   a row is a service's only when its name matches best by a clear margin (the Tourist row
   contains "USEN SPOT" too).  The USEN SPOT row is the one that reads USEN SPOT, or, when its
   own label does not read (a circle drawn through it), the row between the rows that read
   USEN 光 にねん割 and USEN SPOT Tourist.
2. **The mark** on the USEN SPOT row's □ is judged like every option (:func:`marks.judge`);
   the boxes' size is the one most service rows show.  On a black-and-white scan a mark that is
   only a circle round the name is unsure: a light pencil loop is as black there as a pen's.
3. **The コース cell** (from the label column's rule to the next rule of the row): empty, or
   writing that reads ``Plus``/``プラス``.  A printed word is sure at the OCR's sure level; a
   hand's only when every letter reads Plus at :data:`HAND_PLUS_OCR`; anything else is unsure.

``plus`` is sure only when both the USEN SPOT mark and the コース cell are: a person looks at a
scan whose SPOT row is in doubt (the reason names ``plus``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

import numpy as np

from bot.forms import check_boxes, marks
from bot.forms.cells import SURE_OCR, Page, cell_ink, read_ocr, writing
from bot.forms.integrated import COURSE, HEADER, SPOT, TOURIST, match_service
from bot.forms.normalise import fold
from bot.forms.raster import PT
from bot.forms.table import Row
from bot.forms.vocabulary import (
    STATE_EMPTY,
    STATE_FILLED,
    STATE_MARKED,
    STATE_READ,
    STATE_UNMARKED,
    STATE_UNSURE,
    FieldReading,
)

# A service's name matches when it is this similar to the printed name, by this margin over
# the next best name.
SERVICE_MATCH = 0.7
SERVICE_MARGIN = 0.1
# A handwritten Plus is taken when every letter reads at this confidence (and the word is Plus).
HAND_PLUS_OCR = 0.85
# A black-and-white scan: page ink at or below this level, and this share of the ink pixels at
# pure black (measured: black-and-white 0.21-0.52, grey and colour scans 0.00-0.05).
BILEVEL_INK = 3
BILEVEL_SHARE = 0.12
# A circle round the SPOT row's name with less than this share of the box's interior inked
# (an arc crossing the box: 0.06 in the corpus; ticks and crosses 0.13-0.55, a filled box more).
CIRCLE_INSIDE = 0.1
_NOISE = re.compile(r"[|｜\[\]_~'\"`.,:;()（）【】\s]")
COLUMN_LABELS = COURSE + "数量バンド税別単価"
_PLUS_EXACT = re.compile(r"^(?:plus|プラス)$")
Box = tuple[int, int, int, int]


@dataclass
class Services:
    """The services table found on the page."""

    header: Row
    rows: tuple[Row, ...]  # every row of the table below the header (headings included)
    names: dict[int, tuple[str | None, float]] = field(default_factory=dict)  # id(row) → (service, score)
    boxes: dict[int, tuple[Box, list, np.ndarray]] = field(default_factory=dict)  # id(row) → (cell, boxes, ink)
    spot: Row | None = None
    spot_by_place: bool = False  # the SPOT row known from its neighbours' labels, not its own

    def key_of(self, row: Row) -> str | None:
        return self.names.get(id(row), (None, 0.0))[0]


@dataclass
class ServiceReadings:
    readings: list[FieldReading]
    values: dict[str, object]
    unsure: list[str]
    spot_selected: bool | None
    services: tuple[str, ...]
    notes: list[str]


def _clean(text: str) -> str:
    return _NOISE.sub("", fold(text))


def _is_header(page: Page, row: Row) -> bool:
    import difflib

    if difflib.SequenceMatcher(None, _clean(row.text), HEADER).ratio() < 0.75:
        return False
    # the column labels (コース 数量 バンド 税別単価): コース read, or the whole row read closely
    res, _, _ = read_ocr(page, row.value_box, lang="jpn")
    cols = _clean(res.text)
    return COURSE in cols or difflib.SequenceMatcher(None, cols, COLUMN_LABELS).ratio() >= 0.75


def _box_cands(page: Page, row: Row) -> tuple[Box, list, np.ndarray]:
    """The label cell (in upright pixels), the printed-box candidates at its left and the ink
    they were found in: at the lenient threshold, else at the faint one (a thin □ at 150 dpi)."""
    cell = row.label_box
    ink = np.zeros((0, 0), bool)
    for faint in (False, True):
        ink = cell_ink(page, cell, lenient=not faint, faint=faint)
        cands = [(sc, b) for sc, b in check_boxes.find_boxes(ink, (cell[3] - cell[1]) / 2) if b[0] < 24 * PT]
        if any(sc >= 1.0 for sc, _ in cands):
            return cell, cands, ink
    return cell, [], ink


def find_services(page: Page) -> Services | None:
    """The services table of a 統合申込書 on the form's page, or None (a dedicated form)."""
    rows = page.table.rows
    start = next((i for i, r in enumerate(rows) if r.label_box != r.value_box and _is_header(page, r)), None)
    if start is None:
        return None
    svc = Services(header=rows[start], rows=())
    table: list[Row] = []
    strange = 0  # rows in a row with neither a □ nor a service's name
    for row in rows[start + 1:]:
        if row.label_box == row.value_box:  # a heading across the table (お得なオプションサービス)
            table.append(row)
            continue
        cell, cands, ink = _box_cands(page, row)
        if cands:
            svc.boxes[id(row)] = (cell, cands, ink)
            # the name read again without the □ and its mark (a tick over the box reads as a glyph)
            left = max(b[2] for sc, b in cands if sc >= 1.0)
            res, _, _ = read_ocr(page, (cell[0] + left + 2, cell[1], cell[2], cell[3]), lang="jpn")
            text = res.text
        else:
            text = row.text
        key, score, margin = match_service(text)
        named = score >= SERVICE_MATCH and margin >= SERVICE_MARGIN
        if not cands and not named:
            if row.key is not None and row.score >= 0.75:
                break  # a field's row (SSID, 台数 …): the table has ended
            strange += 1
            if strange > 2:
                break
        else:
            strange = 0
        table.append(row)
        svc.names[id(row)] = (key, score) if named else (None, score)
    svc.rows = tuple(table)
    spots = [r for r in table if svc.key_of(r) == SPOT]
    if len(spots) == 1:
        svc.spot = spots[0]
    elif not spots:
        # its own label unread (a circle through it): the row between にねん割 and Tourist
        for before, mid, after in zip(table, table[1:], table[2:], strict=False):
            if svc.key_of(before) == "hikari" and svc.key_of(after) == TOURIST and svc.key_of(mid) is None:
                svc.spot, svc.spot_by_place = mid, True
    return svc


def without_services(page: Page, svc: Services) -> Page:
    """The page with the services table's rows unlabelled, so the shared reading never takes a
    service row for a field (サービス名称 reads like 名称, the Tourist row like SSID)."""
    ids = {id(r) for r in (svc.header, *svc.rows)}
    rows = tuple(dataclasses.replace(r, key=None, score=0.0) if id(r) in ids else r for r in page.table.rows)
    table = dataclasses.replace(page.table, rows=rows)
    # keep the identity of the rows of the services table (the readings below look them up)
    svc.header = next(r for r in rows if r.top == svc.header.top)
    by_top = {r.top: r for r in rows}
    remap = {id(old): by_top[old.top] for old in svc.rows}
    svc.names = {id(remap[id(old)]): svc.names[id(old)] for old in svc.rows if id(old) in svc.names}
    svc.boxes = {id(remap[id(old)]): svc.boxes[id(old)] for old in svc.rows if id(old) in svc.boxes}
    svc.spot = by_top[svc.spot.top] if svc.spot is not None else None
    svc.rows = tuple(remap[id(old)] for old in svc.rows)
    return Page(page.index, page.up, table, page.deadline)


def _course_box(page: Page, row: Row) -> Box | None:
    """The コース cell: from the label column's rule to the next rule of the row."""
    x0, y0, x1, y1 = row.value_box
    skip = int(10 * PT)
    v = page.table.v_lines[y0 + 3: y1 - 3, x0 + skip: x1]
    cols = np.flatnonzero(v.mean(axis=0) > 0.7) if v.size else np.array([], int)
    if not cols.size:
        return None
    return (x0, y0, x0 + skip + int(cols[0]) - 3, y1)


def _judge(page: Page, row: Row, svc: Services, side: int | None) -> marks.OptionMark | None:
    if side is None or id(row) not in svc.boxes:
        return None
    cell, cands, found_in = svc.boxes[id(row)]
    lenient = cell_ink(page, cell, lenient=True)
    boxes = check_boxes.row_boxes(found_in, cands, side, 1)
    if boxes is None:
        return None
    return marks.judge(cell_ink(page, cell), boxes, top=0, bottom=cell[3] - cell[1], cell_right=cell[2] - cell[0],
                       lenient=lenient)[0]


def _plus(page: Page, row: Row, *, printed_form: bool) -> tuple[bool | None, FieldReading]:
    """What the SPOT row's コース cell says: (plus, its reading); plus None when not sure."""
    box = _course_box(page, row)
    if box is None:
        return None, FieldReading("plus.course", None, STATE_UNSURE, 0.0, False, None, page.box(row.value_box))
    state, conf = writing(page, box)
    where = page.box(box)
    if state == STATE_EMPTY:
        return False, FieldReading("plus.course", "", STATE_EMPTY, conf, True, None, where)
    if state != STATE_FILLED:
        return None, FieldReading("plus.course", None, STATE_UNSURE, conf, False, None, where)
    best = ("", 0.0)
    for lang in ("eng", "jpn"):
        res, _, _ = read_ocr(page, box, lang=lang)
        text = _clean(res.text)
        if _PLUS_EXACT.match(text) and res.conf > best[1]:
            best = (text, res.conf)
        elif not best[0] and res.conf >= best[1]:
            best = (text, min(res.conf, 0.5))
    word, ocr_conf = best
    needed = SURE_OCR if printed_form else HAND_PLUS_OCR
    if _PLUS_EXACT.match(word) and ocr_conf >= needed:
        return True, FieldReading("plus.course", "Plus", STATE_READ, round(ocr_conf, 3), True, not printed_form, where)
    # writing that is not surely Plus: a person reads it
    return None, FieldReading("plus.course", word or None, STATE_FILLED, round(ocr_conf, 3), False,
                              not printed_form, where)


def read_services(page: Page, svc: Services, *, printed_form: bool) -> ServiceReadings:
    """The readings of the services table: each service row's mark (``service.<key>``), the
    USEN SPOT row (``spot_selected``), its コース cell (``plus.course``) and ``plus``."""
    out = ServiceReadings([], {}, [], None, (), [])
    groups = [(ink, cands) for _, cands, ink in svc.boxes.values()]
    side = check_boxes.box_side(groups) if groups else None
    chosen: list[str] = []

    def at(cell: Box, area: Box) -> tuple[int, float, float, float, float]:
        return page.box((cell[0] + area[0], cell[1] + area[1], cell[0] + area[2], cell[1] + area[3]))

    judged = {id(row): _judge(page, row, svc, side) for row in svc.rows}
    spot_mark: marks.OptionMark | None = None
    for i, row in enumerate(svc.rows):
        key = svc.key_of(row) or (SPOT if row is svc.spot else None)
        if key is None:
            continue
        m = judged[id(row)]
        near = [judged.get(id(r)) for r in svc.rows[max(0, i - 1): i + 2] if r is not row]
        if m is not None and m.state == marks.MARKED and _circle_only(m) and any(
                n is not None and n.state == marks.MARKED for n in near):
            # ink round the name only, next to a marked row: a neighbour's circle over the rule?
            m = dataclasses.replace(m, state=marks.UNSURE, conf=0.5)
            out.notes.append(f"service {key}: marked only by ink round its name, next to a marked row")
        cell = svc.boxes[id(row)][0] if id(row) in svc.boxes else row.label_box
        if key == SPOT and m is not None and m.state == marks.MARKED and _circle_on_bilevel(page, m):
            m = dataclasses.replace(m, state=marks.UNSURE, conf=0.5)
            out.notes.append("the USEN SPOT row is marked by a circle round its name on a black-and-white scan "
                             "(a light pencil loop and a pen's circle look alike there)")
        if key == SPOT:
            spot_mark = m
        if m is None:
            out.readings.append(FieldReading(f"service.{key}", None, STATE_UNSURE, 0.0, False, None, page.box(cell)))
            continue
        st = {marks.MARKED: STATE_MARKED, marks.UNMARKED: STATE_UNMARKED}.get(m.state, STATE_UNSURE)
        out.readings.append(FieldReading(f"service.{key}", None, st, m.conf, m.state != marks.UNSURE, None,
                                         at(cell, m.area)))
        if m.state == marks.MARKED:
            chosen.append(key)
    out.services = tuple(chosen)

    spot = svc.spot
    spot_box = page.box(spot.label_box) if spot is not None else page.box(svc.header.label_box)
    why = None
    if spot is None:
        why = "the USEN SPOT row of the services table was not found"
    elif spot_mark is None:
        why = "the USEN SPOT row's box was not found"
    elif not _row_height_ok(spot, svc):
        why = "the USEN SPOT row is not as high as the other service rows (rows merged?)"
    if why is not None:
        out.notes.append(why)
        spot_sure = False
    else:
        assert spot_mark is not None
        spot_sure = spot_mark.state != marks.UNSURE
    if spot_sure:
        assert spot_mark is not None
        out.spot_selected = spot_mark.state == marks.MARKED
        out.readings.append(FieldReading("spot_selected", "true" if out.spot_selected else "false", STATE_READ,
                                         spot_mark.conf, True, None, spot_box))
    else:
        out.unsure.append("spot_selected")
        out.readings.append(FieldReading("spot_selected", None, STATE_UNSURE,
                                         spot_mark.conf if spot_mark is not None else 0.0, False, None, spot_box))
    plus: bool | None = None
    if spot is not None:
        plus, course = _plus(page, spot, printed_form=printed_form)
        out.readings.append(course)
    if plus is not None and spot_sure:
        out.values["plus"] = plus
        out.readings.append(FieldReading("plus", "true" if plus else "false", STATE_READ, 1.0, True, None,
                                         course.box))
    else:
        # the USEN SPOT row or its コース cell in doubt: Plus is not known
        out.unsure.append("plus")
        out.readings.append(FieldReading("plus", None, STATE_UNSURE, 0.0, False, None,
                                         course.box if spot is not None else spot_box))
    return out


def _bilevel(page: Page) -> bool:
    """A black-and-white scan: its ink is pure black (a grey or colour scan's pen and print are
    grey levels, with noise), so how light a stroke was on paper is lost."""
    up = page.up
    if up.levels.ink > BILEVEL_INK or up.levels.paper < 255 - BILEVEL_INK:
        return False
    ink = up.image < up.levels.threshold
    n = int(ink.sum())
    return n > 0 and int((up.image[ink] <= BILEVEL_INK).sum()) / n >= BILEVEL_SHARE


def _circle_on_bilevel(page: Page, m: marks.OptionMark) -> bool:
    """The SPOT mark rests on a circle round the name (ink in the halo, the box itself nearly
    clean) and the scan is black-and-white: a light pencil loop (a trial, or half rubbed out)
    is as black there as a pen's circle (generated corpus, bench/bench_integrated_scans.py)."""
    return _circle_only(m) and _bilevel(page)


def _circle_only(m: marks.OptionMark) -> bool:
    """Marked by ink round the name (a circle), the box itself nearly clean."""
    return m.halo > marks.HALO_EMPTY and m.inside < CIRCLE_INSIDE


def _row_height_ok(row: Row, svc: Services) -> bool:
    heights = [r.bottom - r.top for r in svc.rows if id(r) in svc.boxes]
    usual = float(np.median(heights)) if heights else 0.0
    return usual > 0 and 0.7 * usual <= row.bottom - row.top <= 1.3 * usual
