"""tests/fixtures/scans/families: the layout families of the paper form (issue 19) are right.

The generator, not the reader: every family draws every FORM-SPEC field and label, its truth boxes
lie on the page and on its ink, the customer code goes a digit a box, each family scans at every
dpi and colour mode, the same seed gives the same truth, the families really differ, and
plan_families spreads the traits evenly over them.  About a minute: three forms a family are rendered.
"""

from __future__ import annotations

import functools
import io
import itertools
import math
import random
import re
from collections import Counter

import numpy as np
import pypdfium2 as pdfium
import pytest

from tests.fixtures import scans
from tests.fixtures.scans import marks, scanner
from tests.fixtures.scans.corpus import (
    FormSpec,
    boxes,
    labels,
    make,
    plan,
    plan_families,
)
from tests.fixtures.scans.families import (
    BLOCK_FIELDS,
    FAMILIES,
    HELD_OUT_FAMILY,
    LABELS,
    TUNING_FAMILIES,
    VARIANTS,
    layout_key,
)
from tests.fixtures.scans.handwriting import Printer, Writer
from tests.fixtures.scans.layout import CHOICES, PAGE_H, PAGE_W, blank_form, layout
from tests.fixtures.scans.paper import TEXT_FIELDS, fill_form

KEYS = [layout_key(f, v) for f in FAMILIES for v in VARIANTS[f]]
NEW_KEYS = [k for k in KEYS if "." in k]
GRID_KEYS = [k for k in KEYS if k.startswith("shaded_grid.")]
BANDS_KEYS = [k for k in KEYS if k.startswith("black_bands.")]
CAPTION_KEYS = [k for k in KEYS if k.startswith("corner_captions.")]
PRINT_KEYS = [k for k in KEYS if k.startswith("print_shop.")]
AGENCY_KEYS = [k for k in KEYS if k.startswith("agency_form.")]
VERTICAL_BLOCKS = {"v4", *GRID_KEYS}  # the block names printed a character a line in a block column
OPTION_KEYS = {f"{fld}.{key}" for fld, opts in CHOICES for key, _ in opts}


def _norm(text: str) -> str:
    """A printed label without its colon and brackets: 【設置先】 → 設置先, 店舗/施設名： → 店舗/施設名."""
    return re.sub(r"[\s：:【】＜＞]", "", text)


def _inside(box, outer, slack: float = 0.0) -> bool:  # noqa: ANN001
    return (box[0] >= outer[0] - slack and box[1] >= outer[1] - slack and box[2] <= outer[2] + slack
            and box[3] <= outer[3] + slack)


def _overlap(a, b, slack: float = 0.5) -> bool:  # noqa: ANN001
    return a[0] < b[2] - slack and b[0] < a[2] - slack and a[1] < b[3] - slack and b[1] < a[3] - slack


def _centre(box) -> tuple[float, float]:  # noqa: ANN001
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


# --------------------------------------------------------------------------- the families


def test_the_families_and_the_held_out_one() -> None:
    assert len(FAMILIES) >= 5 and FAMILIES[0] == "ruled"
    assert HELD_OUT_FAMILY in FAMILIES and HELD_OUT_FAMILY != "ruled"
    assert HELD_OUT_FAMILY == FAMILIES[-1]  # the newest drawing, never tuned on
    # the families held out before it
    assert {"two_columns", "shaded_grid", "black_bands", "corner_captions", "print_shop"} <= set(TUNING_FAMILIES)
    assert set(TUNING_FAMILIES) == set(FAMILIES) - {HELD_OUT_FAMILY}
    assert VARIANTS["ruled"] == ("v4", "v3")
    assert layout_key("ruled", "v4") == "v4" and layout_key("sections_dotted", "v4") == "sections_dotted.dotted"
    with pytest.raises(ValueError):
        layout_key("nonesuch", "v4")
    with pytest.raises(ValueError):
        layout_key("ruled", "dotted")


@pytest.mark.parametrize("key", KEYS)
def test_truth_boxes_lie_on_the_page(key: str) -> None:
    b, lab = boxes(key), labels(key)
    page = (0, 0, PAGE_W, PAGE_H)
    every = [*b["cells"].values(), *(t["box"] for t in b["printed"]), *lab.values(), b["table"]]
    every += [box for o in b["options"].values() for box in (o["box"], o["label"])]
    every += [box for parts in b.get("parts", {}).values() for box in parts]
    for box in every:
        assert box[0] < box[2] and box[1] < box[3], (key, box)
        assert _inside(box, (18, 18, PAGE_W - 18, PAGE_H - 18)), (key, box)
    assert _inside(layout(key).stamp_area, page)


@pytest.mark.parametrize("key", KEYS)
def test_every_field_option_and_label_is_drawn(key: str) -> None:
    lay = layout(key)
    assert set(TEXT_FIELDS) <= set(lay.cells), set(TEXT_FIELDS) - set(lay.cells)
    assert set(lay.options) == OPTION_KEYS
    assert set(LABELS) <= set(lay.labels), set(LABELS) - set(lay.labels)
    printed = {t.box: t.text for t in lay.texts}
    for name, words in LABELS.items():
        # the texts the label's box holds (v4 prints its block names a character a line, ー as ｜)
        text = "".join(t.text for t in lay.texts if _inside(t.box, lay.labels[name], 0.01)).replace("｜", "ー")
        assert any(w in text for w in words), (key, name, text)
    for opt in lay.options.values():  # the choice's words are printed where the truth says
        assert [t for box, t in printed.items() if math.dist(box[:2], opt.label_box[:2]) < 0.01] == [opt.label], opt
        assert opt.room[0] <= opt.box[0] and opt.label_box[2] <= opt.room[1], (key, opt)


@pytest.mark.parametrize("key", KEYS)
def test_each_block_prints_its_four_labels_once(key: str) -> None:
    lay = layout(key)
    for block, fields in BLOCK_FIELDS.items():
        region = [*(lay.cells[f] for f in fields), *(lay.labels[f] for f in fields)]
        area = (min(b[0] for b in region), min(b[1] for b in region), max(b[2] for b in region),
                max(b[3] for b in region))
        in_block = Counter(_norm(t.text) for t in lay.texts if _inside(t.box, area, 1))
        for f in fields:
            (word,) = LABELS[f]
            assert in_block[word] == 1, (key, block, word, in_block)
        # the block's name once (v4 and shaded_grid print it a character a line in a block column)
        whole = len([t for t in lay.texts if _norm(t.text) in LABELS[f"block.{block}"]])
        assert whole == (key not in VERTICAL_BLOCKS), (key, block)


@pytest.mark.parametrize("key", NEW_KEYS)
def test_writing_areas_are_free_and_apart(key: str) -> None:
    """No printed text in a writing area (but a postcode's printed － between its boxes), no two
    writing areas on each other, no option's □ or words in one."""
    lay = layout(key)
    cells = list(lay.cells.items())
    for name, cell in cells:
        parts = lay.parts.get(name, [cell])
        for t in lay.texts:
            assert not any(_overlap(t.box, p) for p in parts), (key, name, t)
        for opt in lay.options.values():
            assert not _overlap(opt.box, cell) and not _overlap(opt.label_box, cell), (key, name, opt)
    for (a, ca), (b, cb) in itertools.combinations(cells, 2):
        assert not _overlap(ca, cb), (key, a, b)
    opts = list(lay.options.values())
    for o, p in itertools.permutations(opts, 2):  # a circle in its room touches no other option
        if abs(_centre(o.box)[1] - _centre(p.box)[1]) < 8:
            assert not (o.room[0] < p.box[2] and p.box[0] < o.room[1]), (key, o.key, p.key)


def test_the_families_really_differ() -> None:
    """The shop name's label and writing area move by more than 30 pt from one family to another."""
    first = {f: layout(layout_key(f, VARIANTS[f][0])) for f in FAMILIES}
    for a, b in itertools.combinations(FAMILIES, 2):
        for what in ("label", "cell"):
            pa = _centre(first[a].labels["shop_name"] if what == "label" else first[a].cells["shop_name"])
            pb = _centre(first[b].labels["shop_name"] if what == "label" else first[b].cells["shop_name"])
            assert math.dist(pa, pb) > 30, (a, b, what, pa, pb)
    # and in their order: 設置先 comes before ご契約者 only on the old sheet
    for f, lay in first.items():
        shop_first = lay.labels["block.shop"][1] < lay.labels["block.contractor"][1]
        assert shop_first == (f == "ver3_order"), f
    two = first["two_columns"].labels
    assert two["block.shop"][1] == two["block.contractor"][1] and two["block.shop"][0] > two["block.contractor"][2]


def _row(a, b) -> bool:  # noqa: ANN001
    """Two boxes on one row: each one's middle within the other's height."""
    return a[1] <= _centre(b)[1] <= a[3] and b[1] <= _centre(a)[1] <= b[3]


@pytest.mark.parametrize("key", GRID_KEYS)
def test_shaded_grid_is_a_grid_of_grey_label_cells(key: str) -> None:
    """Every label in a grey cell (centred in it, or against its right side), its value in the white
    cell to its right; the block names 縦書き in a grey column at the block's left; two pairs in some
    rows; the code in nine cells beside its grey label under the centred title; 確認方法's options
    on two lines, the other choices on one."""
    lay = layout(key)
    centred = key.endswith(".excel")
    shade_of = {}
    for name, box in lay.labels.items():
        shades = [s for s in lay.shades if _inside(box, s, 0.01)]
        assert shades, (key, name)
        shade_of[name] = min(shades, key=lambda s: (s[2] - s[0]) * (s[3] - s[1]))
    for name, box in lay.labels.items():
        s = shade_of[name]
        if name.startswith("block."):  # a narrow column, the name a character a line
            assert s[2] - s[0] < 25 and box[3] - box[1] > 1.8 * (box[2] - box[0]), (key, name)
            assert s[0] <= min(b[0] for b in lay.shades) + 0.01, (key, name)
        elif centred:
            assert abs(_centre(box)[0] - _centre(s)[0]) < 0.5, (key, name)
        else:
            assert 3 < s[2] - box[2] < 6, (key, name)
    for name, cell in lay.cells.items():  # each value right of its label's grey cell, on its row
        base = {"contact_last_kana": "contact_kana", "contact_first_kana": "contact_kana", "contact_last": "contact",
                "contact_first": "contact", "parent_units": "units", "child_units": "units"}.get(name, name)
        base = base.replace("_zip", "_address")
        s = shade_of[base]
        assert cell[0] >= s[2] and s[1] <= _centre(cell)[1] <= s[3], (key, name)
        assert not any(_overlap(cell, sh) for sh in lay.shades), (key, name)
    for p in ("contractor", "shop"):  # フリガナ and 電話番号 side by side
        assert _row(lay.labels[f"{p}_kana"], lay.labels[f"{p}_phone"]), (key, p)
        assert lay.cells[f"{p}_kana"][2] < lay.labels[f"{p}_phone"][0] < lay.cells[f"{p}_phone"][0]
    assert _row(lay.labels["plus"], lay.labels["ssid"]) and _row(lay.cells["parent_units"], lay.cells["child_units"])
    code, title = lay.labels["customer_code"], lay.texts[0]
    assert abs(_centre(title.box)[0] - PAGE_W / 2) < 1 and title.box[3] < code[1]
    parts = lay.parts["customer_code"]
    assert len(parts) == 9 and shade_of["customer_code"][2] <= parts[0][0] and _row(code, parts[0])
    assert parts[-1][2] < PAGE_W * 0.6 and code[1] < min(b[1] for n, b in lay.labels.items() if n != "customer_code")
    opts = {o.key: o for o in lay.options.values() if o.field == "check_method"}
    first, second, third = (_centre(opts[k].box) for k in ("notice", "bill", "ntt116"))
    assert abs(first[1] - second[1]) < 0.01 and third[1] - first[1] > 14 and abs(third[0] - first[0]) < 0.01
    assert first[1] < _centre(lay.labels["check_method"])[1] < third[1]  # its label beside both lines
    for fld in ("line_kind", "line_type"):
        ys = {round(_centre(o.box)[1], 2) for o in lay.options.values() if o.field == fld}
        assert len(ys) == 1, (key, fld)
    sizes = Counter(round(t.size, 2) for name in LABELS if not name.startswith("block.") and name != "customer_code"
                    for t in lay.texts if t.box == lay.labels[name])
    assert sizes.most_common(1)[0][0] == (9.0 if centred else round(9.0 * 0.92, 2)), sizes


@pytest.mark.parametrize("key", BANDS_KEYS)
def test_black_bands_prints_white_headings_beside_a_side_panel(key: str) -> None:
    """Every block's name white on a dark band across the table, the bands in this form's order
    (ご担当者, サービス, ご契約者, 設置先, 回線, メール, then 備考); ご担当者 and サービス two thirds of the
    page wide beside the branch's panel with its stamp box, the blocks below it the page's width;
    the code as three groups of three boxes with a printed － between the groups; each choice a
    vertical list, the three side by side under their labels; every other label left of its value
    on its row."""
    lay = layout(key)
    solid = key.endswith(".solid")
    table, stamp = lay.table, lay.stamp_area
    white = [t for t in lay.texts if t.white]
    assert lay.bands and {level for _, level in lay.bands} == ({0} if solid else {96})
    assert bool(lay.dashes) != solid  # grey: the rows inside a block divided by dashed rules
    blocks = ("contact", "service", "contractor", "shop", "line", "mail")
    for block in blocks:
        box = lay.labels[f"block.{block}"]
        band = [b for b, _ in lay.bands if _inside(box, b, 0.01)]
        assert len(band) == 1 and abs(band[0][0] - table[0]) < 0.01, block
        if block in ("contact", "service"):  # two thirds wide, the panel beside
            assert band[0][2] < stamp[0] and band[0][2] - table[0] < PAGE_W * 0.67, block
        else:
            assert abs(band[0][2] - table[2]) < 0.01, block
        assert any(math.dist(t.box, box) < 0.01 and t.bold for t in white), block
    assert not any(math.dist(t.box, lay.labels[n]) < 0.01 for t in white for n in LABELS if not n.startswith("block."))
    tops = [lay.labels[f"block.{b}"][1] for b in blocks]
    assert tops == sorted(tops) and lay.labels["remarks"][1] > tops[-1]
    assert tops[0] < stamp[1] and stamp[3] < tops[2] and stamp[2] <= table[2]  # the panel beside the top
    top_cells = [c for n, c in lay.cells.items() if n.startswith(("contact_", "ssid", "parent_", "child_"))]
    assert max(c[2] for c in top_cells) < stamp[0] < lay.cells["shop_name"][2]
    page = np.asarray(blank_form(key, 150).convert("L"))
    x0, y0, x1, y1 = (round(v * 150 / 72) for v in lay.labels["block.contractor"])
    patch = page[y0:y1, x0:x1]
    assert (patch < 110).mean() > 0.3 and (patch > 220).mean() > 0.1  # white print on the dark band
    parts = lay.parts["customer_code"]
    gaps = [b[0] - a[2] for a, b in itertools.pairwise(parts)]
    assert len(parts) == 9 and all(g > 8 for g in gaps[2::3]) and all(g < 3 for i, g in enumerate(gaps) if i % 3 != 2)
    for a, b in (parts[2], parts[3]), (parts[5], parts[6]):
        assert [t.text for t in lay.texts if a[2] < _centre(t.box)[0] < b[0] and _row(t.box, a)] == ["－"]
    firsts = []
    for fld in ("line_kind", "line_type", "check_method"):
        opts = [o for o in lay.options.values() if o.field == fld]
        assert len({round(o.box[0], 2) for o in opts}) == 1, fld  # one under the other
        ys = [_centre(o.box)[1] for o in opts]
        assert all(b - a > 15 for a, b in itertools.pairwise(ys)), fld
        assert lay.labels[fld][3] < opts[0].box[1] and opts[0].box[0] < _centre(lay.labels[fld])[0] < opts[0].room[1]
        firsts.append(opts[0].box)
    assert all(_row(firsts[0], b) for b in firsts) and [b[0] for b in firsts] == sorted(b[0] for b in firsts)
    for name, cell in lay.cells.items():
        base = {"contact_last_kana": "contact_kana", "contact_first_kana": "contact_kana", "contact_last": "contact",
                "contact_first": "contact", "parent_units": "units", "child_units": "units"}.get(name, name)
        base = base.replace("_zip", "_address")
        if base == "customer_code":
            continue
        label = lay.labels[base]
        assert label[2] < cell[0] and cell[1] - 14 < _centre(label)[1] < cell[3] + 14, (key, name)


def _frame(lay, box) -> tuple[float, float, float, float]:  # noqa: ANN001
    """The frame round ``box``: on each side the nearest ruling line that runs past the box's middle."""
    cx, cy = _centre(box)
    across = [r for r, _ in lay.rules if r[1] == r[3] and r[0] <= cx <= r[2]]
    upright = [r for r, _ in lay.rules if r[0] == r[2] and r[1] <= cy <= r[3]]
    return (max(r[0] for r in upright if r[0] <= box[0]), max(r[1] for r in across if r[1] <= box[1]),
            min(r[0] for r in upright if r[0] >= box[2]), min(r[1] for r in across if r[1] >= box[3]))


@pytest.mark.parametrize("key", CAPTION_KEYS)
def test_corner_captions_prints_each_label_small_in_its_boxs_corner(key: str) -> None:
    """Every field a box with its label printed small in the box's top-left corner and every value
    (each choice's options too) in the same box under that caption; the boxes tiled two to a row
    (名称 beside a 電話番号 box as tall as the フリガナ and 名称 rows), sharing their sides (solid) or
    each a rounded frame of its own, a few points from the next (rounded); each block's name on a tab
    at the grid's left edge, sitting on the block's first boxes; the choices numbered "1." "2."
    between their □ and their words; the code in a plain box captioned UNIS顧客コード（9桁）."""
    lay = layout(key)
    rounded = key.endswith(".rounded")
    k = 0.95 if rounded else 1.0
    assert bool(lay.dashes) == rounded and all(math.dist(b[:2], b[2:]) < 4 * k for b, _, _ in lay.dashes)
    captions = {name: box for name, box in lay.labels.items() if not name.startswith("block.")}
    frames = {name: _frame(lay, box) for name, box in captions.items()}
    for name, box in captions.items():
        left, top, right, bottom = frames[name]
        (text,) = [t for t in lay.texts if math.dist(t.box, box) < 0.01]
        assert text.size <= 6.5 * k + 0.01, (key, name, text.size)  # small, under the values' size
        assert 2.5 * k < box[0] - left < 4.5 * k and 1.0 * k < box[1] - top < 3.0 * k, (key, name)
        assert box[2] < (left + right) / 2 or right - left < 2.2 * (box[2] - left), (key, name)  # the corner
        assert box[3] < (top + bottom) / 2, (key, name)
    code = next(t.text for t in lay.texts if math.dist(t.box, captions["customer_code"]) < 0.01)
    assert code == "UNIS顧客コード（9桁）"
    assert "customer_code" not in lay.parts
    for name, cell in lay.cells.items():  # each value under the caption of its own box, inside it
        frame = _frame(lay, cell)
        assert _inside(cell, frame, 0.01), (key, name)
        inside = [t for t in lay.texts if _inside(t.box, frame, 0.01)]
        caption = min(inside, key=lambda t: math.dist(t.box[:2], frame[:2]))
        assert caption.size <= 6.5 * k + 0.01 and cell[1] >= caption.box[3] + 0.5, (key, name, caption.text)
        assert not any(_overlap(cell, t.box) for t in inside), (key, name)
    for opt in lay.options.values():  # the options in their choice's box, under its caption
        label = lay.labels[opt.field]
        assert _frame(lay, opt.box) == frames[opt.field] and opt.box[1] > label[3], (key, opt.key)
        assert _frame(lay, opt.label_box) == frames[opt.field], (key, opt.key)
    for fld, opts in CHOICES[:3]:
        for i, (key_, _) in enumerate(opts):
            o = lay.options[f"{fld}.{key_}"]
            numbers = [t.text for t in lay.texts if o.box[2] < t.box[0] and t.box[2] < o.label_box[0]
                       and _row(t.box, o.box)]
            assert numbers == [f"{i + 1}."], (key, fld, key_, numbers)
    apart = (2.5 * k, 3.5 * k) if rounded else (0.0, 0.01)
    for p in ("contractor", "shop"):  # フリガナ over 名称, the tall 電話番号 box beside both
        kana, name, phone = (frames[f"{p}_{f}"] for f in ("kana", "name", "phone"))
        assert abs(phone[1] - kana[1]) < 0.01 and abs(phone[3] - name[3]) < 0.01, (key, p)
        assert apart[0] <= phone[0] - name[2] <= apart[1] and apart[0] <= name[1] - kana[3] <= apart[1], (key, p)
    for a, b in (("line_kind", "line_type"), ("plus", "ssid")):  # two boxes on a row
        assert abs(frames[a][1] - frames[b][1]) < 0.01 and apart[0] <= frames[b][0] - frames[a][2] <= apart[1], a
    firsts = {"contractor": "contractor_kana", "shop": "shop_kana", "line": "line_kind", "mail": "mail_local",
              "contact": "contact_kana", "service": "plus"}
    left = min(f[0] for f in frames.values())
    for block, first in firsts.items():  # a tab at the grid's left, on top of the block's first box
        name = lay.labels[f"block.{block}"]
        tab = _frame(lay, name)
        assert abs(tab[0] - left) < 0.01 and tab[2] - tab[0] < name[2] - name[0] + 20, (key, block)
        assert tab[3] - tab[1] < 14 and 0 <= frames[first][1] - tab[3] <= 3, (key, block)


@pytest.mark.parametrize("key", PRINT_KEYS)
def test_print_shop_shares_its_row_labels_and_offers_round_choices(key: str) -> None:
    """ご契約者 and 設置先 are the two columns of one matrix: their names side by side on its header
    row, each over its own column of values, the row labels (フリガナ, 名称 over 店舗/施設名, 住所,
    電話番号) printed once at the left for both; every option a printed ○ (no □) before its words,
    the options of the three line choices aligned in columns; ご担当者's 姓（セイ） | 名（メイ） over its
    columns; サービス's labels over their values on one row; each other block's name at the left of
    its header row; the code a comb of nine cells divided by dotted rules, under every other field.
    grid: every cell ruled, a 斜線 in the matrix's corner; banded: no upright rule in the tables,
    every second row shaded."""
    lay = layout(key)
    grid = key.endswith(".grid")
    lab, cells = lay.labels, lay.cells
    con, shop = lab["block.contractor"], lab["block.shop"]
    assert _row(con, shop) and con[2] < shop[0]
    for f in ("kana", "name", "address", "phone"):
        c, s = cells[f"contractor_{f}"], cells[f"shop_{f}"]
        assert c[0] < _centre(con)[0] < c[2] < s[0] < _centre(shop)[0] < s[2], (key, f)
        assert (c[1], c[3]) == (s[1], s[3]), (key, f)  # the two blocks' values on one row
        top = cells["contractor_zip"][1] if f == "address" else c[1]
        for p in ("contractor", "shop"):
            label = lab[f"{p}_{f}"]
            assert label[2] < c[0] and top - 1 < label[1] and label[3] < c[3] + 1, (key, p, f)
        shared = lab[f"contractor_{f}"] == lab[f"shop_{f}"]
        assert shared == (f != "name"), (key, f)  # 名称 over 店舗/施設名 in one cell
    assert lab["contractor_name"][3] < lab["shop_name"][1]
    assert not lay.squares
    rings = [t.box for t in lay.texts if t.text == "○"]
    assert all(any(_inside(o.box, r, 0.01) for r in rings) for o in lay.options.values())
    by = {fld: [lay.options[f"{fld}.{k}"] for k, _ in opts] for fld, opts in CHOICES[:3]}
    for i in range(2):  # the options in columns
        assert len({round(by[f][i].box[0], 2) for f in by}) == 1, (key, i)
    upright = [r for r, _ in lay.rules if r[0] == r[2]]
    for opts in by.values():
        for a, b in itertools.pairwise(opts):
            ruled = [r for r in upright if a.label_box[2] < r[0] < b.box[0] and r[1] < _centre(a.box)[1] < r[3]]
            assert bool(ruled) == grid, (key, a.key)
    if not grid:
        rows = [_centre(o.box)[1] for o in lay.options.values() if o.field != "plus"]
        rows += [_centre(c)[1] for n, c in cells.items() if n.startswith(("contractor_", "shop_", "contact_", "mail_"))]
        assert not any(r[1] <= y <= r[3] for r in upright for y in rows), key
    assert any(_overlap(sh, cells["contractor_name"]) for sh in lay.shades) != grid
    diagonal = [d for d, _, _ in lay.dashes if d[0] != d[2] and d[1] != d[3]]
    assert len(diagonal) == grid and all(d[2] < con[0] and d[1] <= con[1] for d in diagonal)
    heads = {t.text: t.box for t in lay.texts if t.text in ("姓（セイ）", "名（メイ）")}
    for part, head in (("last", heads["姓（セイ）"]), ("first", heads["名（メイ）"])):
        for name in (f"contact_{part}_kana", f"contact_{part}"):
            assert cells[name][0] < _centre(head)[0] < cells[name][2] and head[3] < cells[name][1], (key, name)
    for fld in ("contact_kana", "contact"):
        value = cells["contact_last_kana" if fld == "contact_kana" else "contact_last"]
        assert lab[fld][2] < value[0] and _row(lab[fld], value), (key, fld)
    units = (cells["parent_units"][0], cells["parent_units"][1], cells["child_units"][2], cells["child_units"][3])
    for fld, value in (("plus", lay.options["plus.on"].box), ("ssid", cells["ssid"]), ("units", units)):
        assert _row(lab["plus"], lab[fld]) and lab[fld][3] < value[1], (key, fld)  # the labels over the values
        assert abs(_centre(lab[fld])[0] - _centre(value)[0]) < 75, (key, fld)
    names = {b: lab[f"block.{b}"] for b in ("line", "mail", "contact", "service")}
    assert len({round(_centre(b)[0], 2) for b in names.values()}) == 1
    for block, first in (("line", "line_kind"), ("mail", "mail_local"), ("contact", "contact_kana")):
        assert names[block][3] < lab[first][1] and lab[first][0] < _centre(names[block])[0], (key, block)
    assert names["service"][2] < lab["plus"][0] and lab["plus"][1] < _centre(names["service"])[1] < units[3]
    parts = lay.parts["customer_code"]
    assert len(parts) == 9 and parts[0][1] > max(c[3] for n, c in cells.items() if n != "customer_code")
    assert lab["customer_code"][2] < parts[0][0] and _row(lab["customer_code"], parts[0])
    dotted = [d for d, _, _ in lay.dashes if d[0] == d[2] and parts[0][0] < d[0] < parts[-1][2]]
    assert len(dotted) == 8


@pytest.mark.parametrize("key", AGENCY_KEYS)
def test_agency_form_traits(key: str) -> None:
    """agency_form's own drawing (the held-out family: see tests/fixtures/scans/family_agency.py)."""
    lay = layout(key)
    std = key.endswith(".std")
    k = 1.0 if std else 0.95
    lab, cells = lay.labels, lay.cells
    order = ("contractor", "contact", "shop", "mail", "service", "line")
    steps = {t.text: t for t in lay.texts if re.fullmatch(r"STEP\d", t.text)}
    assert sorted(steps) == [f"STEP{i}" for i in range(1, 7)]
    tops = [lab[f"block.{b}"][1] for b in order]
    assert tops == sorted(tops) and tops[-2] < lab["remarks"][1] < tops[-1]
    for i, block in enumerate(order, 1):
        tag, name = steps[f"STEP{i}"], lab[f"block.{block}"]
        assert _row(tag.box, name) and 0 < name[0] - tag.box[2] < 20 * k, (key, block)
        assert tag.white == std and bool([b for b, level in lay.bands if level == 0 and _inside(tag.box, b)]) == std
    assert len(lay.bands) == (6 if std else 0)
    choices = {fld for fld, _ in CHOICES}
    fields = [n for n in LABELS if not n.startswith("block.") and n not in choices]
    centres = {round(_centre(lab[n])[0], 2) for n in fields}
    assert len(centres) == 1, centres
    arcs = [((d[0] + d[2]) / 2, (d[1] + d[3]) / 2) for d, _, _ in lay.dashes if d[0] != d[2] and d[1] != d[3]]
    for n in fields:
        box = lab[n]
        ym = _centre(box)[1]
        beside = [a for a in arcs if abs(a[1] - ym) < 9 * k]
        assert sum(a[0] < box[0] for a in beside) == 10 and sum(a[0] > box[2] for a in beside) == 10, (key, n)
        assert any(_inside(box, sh, 0.01) for sh in lay.shades) == std, (key, n)
    right_of = max(lab[n][2] for n in fields) + 4 * k
    for name, cell in cells.items():
        base = {"contact_last_kana": "contact_kana", "contact_first_kana": "contact_kana", "contact_last": "contact",
                "contact_first": "contact", "parent_units": "units", "child_units": "units"}.get(name, name)
        label = lab[base.replace("_zip", "_address")]
        assert cell[0] > right_of and cell[1] - 12 * k < _centre(label)[1] < cell[3] + 12 * k, (key, name)
        if name.endswith(("_zip", "_address")) or name == "customer_code":
            continue
        under = [r for r, _ in lay.rules
                 if r[1] == r[3] and 0 < r[1] - cell[3] < 3 and r[0] < cell[0] and r[2] > cell[2]]
        sides = [r for r, _ in lay.rules if r[0] == r[2] and r[1] < _centre(cell)[1] < r[3]
                 and 0 < min(abs(r[0] - cell[0]), abs(r[0] - cell[2])) < 4]
        assert under and len(sides) == (2 if std else 0), (key, name)
    opts = list(lay.options.values())
    assert min(o.box[1] for o in opts) > max(c[3] for c in cells.values())
    assert min(o.box[1] for o in opts) > lab["block.line"][3]
    assert all(o.box[0] > o.label_box[2] + 20 * k and _row(o.box, o.label_box) for o in opts)
    columns = sorted({round(o.box[0], 2) for o in opts})
    assert len(columns) == 2 and columns[1] > PAGE_W / 2 > columns[0]
    for a, b in itertools.combinations(opts, 2):
        if round(a.box[0], 2) == round(b.box[0], 2):
            assert not _row(a.box, b.box), (key, a.key, b.key)
    for fld, words in CHOICES:
        own = [lay.options[f"{fld}.{key_}"] for key_, _ in words]
        assert all(lab[fld][2] < o.label_box[0] for o in own), (key, fld)
        assert own[0].box[1] - 2 < _centre(lab[fld])[1] < own[-1].box[3] + 2, (key, fld)
    parts = lay.parts["customer_code"]
    assert len(parts) == 9 and all(b[0] - a[2] < 3 for a, b in itertools.pairwise(parts))
    assert parts[0][1] < min(c[1] for n, c in cells.items() if n != "customer_code")
    walls = {round(r[0], 2): w for r, w in lay.rules if r[0] == r[2] and r[1] < _centre(parts[0])[1] < r[3]
             and parts[0][0] - 2 < r[0] < parts[-1][2] + 2}
    heavy = [i for i, x in enumerate(sorted(walls)) if walls[x] > 0.9 * k]
    assert len(walls) == 10 and heavy == [0, 3, 6, 9], walls
    sizes = {round(t.size, 2) for n in fields if n != "mail_local"  # mail_local's label shrunk to fit
             for t in lay.texts if math.dist(t.box, lab[n]) < 0.01}
    assert sizes == {round(8.5 * k, 2)}, sizes


@pytest.mark.parametrize("key", AGENCY_KEYS)
def test_agency_form_circles_go_round_the_words(key: str) -> None:
    """A circle drawn round an option goes round its words and stays in its room (marks.circle)."""
    lay = layout(key)
    styles = {k: "circle" for k in lay.options}
    for seed in range(12):
        rng = random.Random(seed)
        v = scans.design(FormSpec(index=0, seed=seed)).values
        filled = fill_form(v, variant=key, dpi=150, fill="hand", mark_styles=styles, writer=Writer.random(rng),
                           printer=Printer.random(rng), rng=rng)
        for name, opt in lay.options.items():
            ink = filled.marks[name]["ink"]
            (cx, cy), room = _centre(opt.label_box), opt.room
            assert ink[0] < cx < ink[2] and ink[1] < cy < ink[3], (key, seed, name, ink, opt.label_box)
            assert room[0] - 2 < ink[0] and ink[2] < min(room[1], opt.box[0]) + 2, (key, seed, name, ink, room)


# --------------------------------------------------------------------------- filling


def _ink(key: str, fill: str, code: str, seed: int) -> tuple[np.ndarray, dict]:
    """The ink a fill put on the blank form (pixels at 200 dpi that got darker) and the fill."""
    rng = random.Random(seed)
    v = scans.design(FormSpec(index=0, seed=seed)).values | {"customer_code": code}
    filled = fill_form(v, variant=key, dpi=200, fill=fill, mark_styles={}, writer=Writer.random(rng),
                       printer=Printer.random(rng), rng=rng)
    before = np.asarray(blank_form(key, 200).convert("L"), dtype=np.int16)
    after = np.asarray(filled.page.convert("L"), dtype=np.int16)
    return (before - after) > 60, {"text": filled.text, "ink": filled.ink}


@pytest.mark.parametrize("key", [k for k in NEW_KEYS if k.startswith(("header_digits.", "shaded_grid.",
                                                                         "black_bands.", "print_shop.",
                                                                         "agency_form."))])
@pytest.mark.parametrize("fill", ["typed", "hand"])
def test_digit_boxes_hold_one_digit_each(key: str, fill: str) -> None:
    lay = layout(key)
    parts = lay.parts["customer_code"]
    assert len(parts) == 9
    assert all(a[2] <= b[0] for a, b in itertools.pairwise(parts))  # left to right, apart
    assert _inside((parts[0][0], parts[0][1], parts[-1][2], parts[-1][3]), lay.cells["customer_code"], 0.01)
    if key.startswith("header_digits."):  # the postcode in 3 + 4 boxes (shaded_grid, black_bands: one cell)
        assert {len(lay.parts[f"{p}_zip"]) for p in ("contractor", "shop")} == {7}
    code = "305918274"
    for seed in (1, 2, 3):
        ink, out = _ink(key, fill, code, seed)
        assert out["text"]["customer_code"].translate(str.maketrans("０１２３４５６７８９", "0123456789")) == code
        s = 200 / 72
        for box in parts:
            x0, y0, x1, y1 = (round(v * s) for v in box)
            inside = ink[y0:y1, x0:x1]
            assert inside.sum() > 20, (key, fill, seed, box)  # a digit in every box
            xs = np.nonzero(inside.any(axis=0))[0]
            assert xs.max() - xs.min() < (x1 - x0) * 0.95  # one digit, not a run of them
        left, right = parts[0][0] * s, parts[-1][2] * s
        ys = slice(round(parts[0][1] * s), round(parts[0][3] * s))
        near = round(60 * s)  # nothing beside (shaded_grid writes the date further along the row)
        assert ink[ys, max(0, round(left) - near): round(left) - 3].sum() == 0
        assert ink[ys, round(right) + 3: round(right) + near].sum() == 0


# --------------------------------------------------------------------------- scanned


RENDER = [(f, dpi, color) for j, f in enumerate(FAMILIES)
          for dpi, color in zip(scanner.DPIS, scanner.COLOR_MODES[j % 3:] + scanner.COLOR_MODES[:j % 3], strict=True)]


@functools.cache
def _made(family: str, dpi: int, color: str) -> tuple[bytes, dict]:
    fill = scans.FILLS[(scanner.DPIS.index(dpi) + FAMILIES.index(family)) % 3]
    style = "printed_check" if fill == "typed" else marks.HAND_STYLES[FAMILIES.index(family) % 4]
    variant = VARIANTS[family][scanner.DPIS.index(dpi) % len(VARIANTS[family])]
    spec = FormSpec(index=FAMILIES.index(family), seed=31 + dpi, family=family, variant=variant, dpi=dpi, color=color,
                    fill=fill, mark_style=style, stamp=True)
    return make(spec)


@pytest.mark.parametrize("family,dpi,color", RENDER)
def test_each_family_scans_at_every_dpi_and_colour(family: str, dpi: int, color: str) -> None:
    pdf, truth = _made(family, dpi, color)
    key = layout_key(family, truth["spec"]["variant"])
    assert truth["traits"]["family"] == family and truth["traits"]["dpi"] == dpi and truth["traits"]["color"] == color
    assert truth["boxes"] == boxes(key) and truth["labels"] == labels(key)
    doc = pdfium.PdfDocument(pdf, password="uspot")
    img = np.asarray(doc[truth["form_page"]].render(scale=dpi / 72).to_pil().convert("L"))
    doc.close()
    page = truth["pages"][-1]
    assert abs(img.shape[0] - page["height_px"]) <= 2 and abs(img.shape[1] - page["width_px"]) <= 2
    assert abs(max(img.shape) - PAGE_H * dpi / 72) < 3
    (a, b, c), (d, e, f) = truth["form_to_image"]

    def dark(box: list[float], level: int = 130) -> bool:
        pts = [(a * x + b * y + c, d * x + e * y + f) for x in (box[0], box[2]) for y in (box[1], box[3])]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        patch = img[max(0, round(min(ys)) - 2): round(max(ys)) + 3, max(0, round(min(xs)) - 2): round(max(xs)) + 3]
        return patch.size > 0 and patch.min() < level

    # the matrix puts the printed labels and □ on ink, and the written values where the truth says
    assert all(dark(box) for box in truth["labels"].values()), truth["id"]
    assert all(dark(o["box"], 170) for o in truth["boxes"]["options"].values())  # thin □: light at 150 dpi
    assert all(dark(box) for box in truth["ink"].values())
    for name, box in truth["ink"].items():  # the ink of a value stays near its writing area
        cell = truth["boxes"]["cells"][name]
        assert _inside(box, cell, 6), (family, name, box, cell)


def test_same_seed_same_truth() -> None:
    spec = FormSpec(index=3, seed=77, family="label_below", variant="open", fill="hand", mark_style="circle")
    assert make(spec)[1] == make(spec)[1]
    assert plan_families(40, 9) == plan_families(40, 9) != plan_families(40, 10)


# --------------------------------------------------------------------------- the plan


@pytest.mark.parametrize("n", [12, 60, 2 * len(scans.DEFECTS) * len(FAMILIES), 300])
def test_plan_families_spreads_every_trait_over_the_families(n: int) -> None:
    specs = plan_families(n, 2024)
    assert [s.index for s in specs] == list(range(n))
    by = {f: [s for s in specs if s.family == f] for f in FAMILIES}
    assert {len(v) for v in by.values()} <= {n // len(FAMILIES), -(-n // len(FAMILIES))}
    assert Counter(s.defect is None for s in specs) == {True: n - n // 2, False: n // 2}
    for f, group in by.items():
        k = len(group)
        assert abs(sum(s.defect is None for s in group) - k / 2) <= 1, f
        if k >= len(VARIANTS[f]):  # 12 forms over 7 families: some have one form
            assert {s.variant for s in group} == set(VARIANTS[f]), f
        for trait, values in (("dpi", scanner.DPIS), ("color", scanner.COLOR_MODES), ("fill", scans.FILLS)):
            counts = Counter(getattr(s, trait) for s in group)
            if k >= 3:
                assert set(counts) == set(values), (f, trait)
            assert max(counts.values()) - min(counts.get(v, 0) for v in values) <= 1, (f, trait, counts)
    seen = {name: {getattr(s, name) for s in specs} for name in ("mark_style", "orientation", "extra_page", "defect",
                                                                 "stamp")}
    assert seen["mark_style"] == set(marks.STYLES)
    assert seen["orientation"] == set(scanner.ORIENTATIONS)
    assert seen["extra_page"] == {None, "cover", "blank"}
    assert seen["defect"] == {None, *scans.DEFECTS}
    assert seen["stamp"] == {True, False}
    assert all((s.mark_style in marks.PRINTED_STYLES) == (s.fill == "typed") for s in specs)
    if n >= 60:  # every family sees upside-down and sideways forms, and every defect
        # (sideways once there is one for each family: 3 forms in 20, so 60 forms leave two of eleven without;
        # a defect once a family has a form for each: n // 2 over the families)
        sideways = sum(s.orientation in (90, 270) for s in specs)
        for f, group in by.items():
            turns = {s.orientation for s in group}
            assert 180 in turns and (turns & {90, 270} or sideways < len(FAMILIES)), f
            if n // 2 // len(FAMILIES) >= len(scans.DEFECTS):
                assert {s.defect for s in group} >= set(scans.DEFECTS), f


def test_plan_families_on_some_families_and_the_ruled_plan_unchanged() -> None:
    specs = plan_families(10, 5, families=("sections_dotted", HELD_OUT_FAMILY))
    assert [s.family for s in specs] == ["sections_dotted", HELD_OUT_FAMILY] * 5
    with pytest.raises(ValueError):
        plan_families(10, 5, families=("nonesuch",))
    assert {s.family for s in plan(30, 5)} == {"ruled"}
    assert FormSpec(index=0, seed=1).family == "ruled"
    spec = plan(6, 20251130)[1]
    _, truth = make(spec)
    assert truth["traits"]["family"] == "ruled" and truth["traits"]["variant"] == spec.variant
    assert set(truth["boxes"]) == {"unit", "page", "cells", "options", "table", "printed"}  # as before issue 19
    assert truth["boxes"] == boxes(spec.variant)


def test_cli_writes_a_families_corpus(tmp_path) -> None:  # noqa: ANN001
    from tests.fixtures.scans.__main__ import main

    assert main(["--out", str(tmp_path), "--n", "6", "--only", "2", "--family", "--no-preview"]) == 0
    index = (tmp_path / "index.tsv").read_text(encoding="utf-8").splitlines()
    assert index[1].split("\t")[-1].startswith(FAMILIES[2] + ".")
    assert (tmp_path / "scan-0002.pdf").read_bytes().startswith(b"%PDF")
    assert io.BytesIO((tmp_path / "scan-0002.json").read_bytes()).read(1) == b"{"
