"""tests/fixtures/scans: the generator of scanned application forms (issue 10) is deterministic,
writes image-only AES-256 PDFs that open with "uspot", spreads its traits and defects over the
corpus, and its ground truth agrees with itself and with the pixels.

Cheap: the plan and the designs of the full 300-form corpus (no images), and 20 rendered forms.
"""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import pikepdf
import pypdfium2 as pdfium
import pytest

from bot.domain.kana import reading_to_ascii
from tests.fixtures import scans
from tests.fixtures.scans import handwriting, marks, scanner, values
from tests.fixtures.scans.__main__ import main as cli_main
from tests.fixtures.scans.paper import MIXED_HAND_FIELDS

SEED = 4242
N_RENDERED = 20  # the plan's trait cycles are 20 long: every trait value appears in 20 forms


@pytest.fixture(scope="module")
def rendered() -> list[tuple[bytes, dict]]:
    return list(scans.corpus(N_RENDERED, SEED))


def _marked(truth: dict, field: str) -> set[str]:
    return {k.split(".", 1)[1] for k, m in truth["marks"].items() if k.startswith(field + ".") and m["marked"]}


def _images(pdf_bytes: bytes) -> list[bytes]:
    with pikepdf.open(io.BytesIO(pdf_bytes), password=scans.DEFAULT_PASSWORD) as pdf:
        return [img.read_raw_bytes() for page in pdf.pages for img in page.Resources.XObject.values()]


# --------------------------------------------------------------------------- plan and designs


def test_plan_is_deterministic_and_half_defective() -> None:
    plan = scans.plan(300, SEED)
    assert plan == scans.plan(300, SEED)
    assert plan != scans.plan(300, SEED + 1)
    defects = Counter(spec.defect for spec in plan)
    assert defects[None] == 150
    assert {d: defects[d] for d in scans.DEFECTS} == {d: pytest.approx(37.5, abs=0.5) for d in scans.DEFECTS}


@pytest.mark.parametrize("n", [N_RENDERED, 300])
def test_every_trait_appears(n: int) -> None:
    plan = scans.plan(n, SEED)
    seen = {name: {getattr(spec, name) for spec in plan} for name in
            ("fill", "mark_style", "variant", "dpi", "color", "orientation", "extra_page", "defect")}
    assert seen["fill"] == set(scans.FILLS)
    assert seen["mark_style"] == set(marks.STYLES)
    assert seen["dpi"] == set(scanner.DPIS)
    assert seen["color"] == set(scanner.COLOR_MODES)
    assert seen["orientation"] == set(scanner.ORIENTATIONS)
    assert seen["extra_page"] == {None, "cover", "blank"}
    assert seen["variant"] == {"v3", "v4"}
    assert seen["defect"] == {None, *scans.DEFECTS}
    if n >= 27:
        assert len({(spec.dpi, spec.color, spec.fill) for spec in plan}) == 27


def test_designs_of_the_whole_corpus_show_exactly_their_defect() -> None:
    for spec in scans.plan(300, SEED):
        d = scans.design(spec)
        v, styles = d.values, d.mark_styles
        kinds = {k.split(".")[1] for k in styles if k.startswith("line_kind.")}
        types = {k.split(".")[1] for k in styles if k.startswith("line_type.")}
        assert len([k for k in styles if k.startswith("check_method.")]) == 1
        assert ("plus.on" in styles) == v["plus"]
        pool = marks.PRINTED_STYLES if spec.fill == "typed" else marks.HAND_STYLES
        assert set(styles.values()) <= set(pool) and spec.mark_style in styles.values()
        for name in scans.REQUIRED_FIELDS:
            assert v[name] or (name == "mail_local" and spec.defect == "MAIL_ADDRESS_MISSING"), (spec, name)
        mail_ok = bool(v["mail_local"]) and reading_to_ascii(str(v["mail_reading"])) == v["mail_local"]
        kind_ok = len(kinds) == 1
        type_ok = kinds != {"b_flets"} or len(types) == 1
        plus_ok = d.body_plus == v["plus"]
        assert (kind_ok, type_ok, mail_ok, plus_ok) == (
            spec.defect != "LINE_KIND_MISSING", spec.defect != "LINE_TYPE_MISSING",
            spec.defect != "MAIL_ADDRESS_MISSING", spec.defect != "PLUS_FLAG_MISMATCH"), spec
        if spec.defect == "LINE_KIND_MISSING":
            assert len(kinds) in (0, 2)
        if spec.defect == "LINE_TYPE_MISSING":
            assert kinds == {"b_flets"} and not types
        if spec.defect == "MAIL_ADDRESS_MISSING":
            assert v["mail_local"] == "" and v["mail_reading"] == ""


def test_handwriting_fonts_have_every_character_the_values_use() -> None:
    chars: set[str] = set()
    for group in (values.SURNAMES, values.GIVEN_NAMES, values.SHOPS, values.COMPANIES, values.PLACES):
        for entry in group:
            chars.update("".join(entry))
    chars.update("".join(values.BUILDINGS + values.REMARKS + tuple(values.LETTER_NAMES.values())))
    chars.update("0123456789-_.+abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ親子台、丁目番号")
    for font in handwriting.HAND_FONTS:
        assert not [c for c in sorted(chars) if not handwriting.has_glyph(font, c)], font
    assert not handwriting.has_glyph("seto", "\U0001F600")  # the check can fail


# --------------------------------------------------------------------------- rendered forms


def test_same_seed_same_pages_and_truth(rendered: list[tuple[bytes, dict]]) -> None:
    spec = scans.plan(N_RENDERED, SEED)[3]
    pdf_bytes, truth = scans.make(spec)
    assert truth == rendered[3][1]
    assert _images(pdf_bytes) == _images(rendered[3][0])  # the salts differ, the pages do not


def test_pdfs_are_encrypted_and_image_only(rendered: list[tuple[bytes, dict]]) -> None:
    for pdf_bytes, truth in rendered:
        with pytest.raises(pikepdf.PasswordError):
            pikepdf.open(io.BytesIO(pdf_bytes))
        with pikepdf.open(io.BytesIO(pdf_bytes), password="uspot") as pdf:
            assert pdf.is_encrypted and pdf.encryption.R == 6 and pdf.encryption.bits == 256
            assert pdf.encryption.stream_method.name == "aesv3"
            assert len(pdf.pages) == len(truth["pages"]) == truth["form_page"] + 1
            for page, page_truth in zip(pdf.pages, truth["pages"], strict=True):
                assert "/Font" not in page.Resources
                (image,) = page.Resources.XObject.values()
                want = "/CCITTFaxDecode" if truth["traits"]["color"] == "bw" else "/DCTDecode"
                assert str(image.Filter) == want == "/" + page_truth["filter"]
                assert (int(image.Width), int(image.Height)) == (page_truth["width_px"], page_truth["height_px"])
        doc = pdfium.PdfDocument(pdf_bytes, password="uspot")
        assert all(doc[i].get_textpage().get_text_range() == "" for i in range(len(doc)))
        doc.close()


def test_rendered_truths_are_consistent(rendered: list[tuple[bytes, dict]]) -> None:
    for _, t in rendered:
        f, tr = t["fields"], t["traits"]
        kinds, types = _marked(t, "line_kind"), _marked(t, "line_type")
        want_kinds = set() if f["line_kind"] is None else {f["line_kind"]} if isinstance(f["line_kind"], str) \
            else set(f["line_kind"])
        assert kinds == want_kinds
        assert types == ({f["line_type"]} if f["line_type"] else set())
        assert _marked(t, "plus") == ({"on"} if f["plus"] else set())
        plus_body = t["body"]["SPOT Plus該当"] == "有"
        if t["defects"] == ["LINE_TYPE_MISSING"]:
            assert kinds == {"b_flets"} and not types
        if t["defects"] == ["PLUS_FLAG_MISMATCH"]:
            assert plus_body != f["plus"]
        if t["defects"] == ["MAIL_ADDRESS_MISSING"]:
            assert not t["filled"]["mail_local"] and not t["filled"]["mail_reading"]
        if not t["defects"]:
            assert len(kinds) == 1 and (kinds != {"b_flets"} or len(types) == 1) and plus_body == f["plus"]
            assert all(t["filled"][name] for name in t["required"])
        assert set(t["hand"]) == {k for k, filled in t["filled"].items() if filled} - (
            {"parent_units", "child_units"} if t["units_in_remarks"] else set())
        want_hand = {"hand": set(t["hand"]), "typed": set(), "mixed": set(t["hand"]) & set(MIXED_HAND_FIELDS)}
        assert {k for k, hand in t["hand"].items() if hand} == want_hand[tr["fill"]]
        assert all(m["hand"] == (m["style"] in marks.HAND_STYLES) for m in t["marks"].values() if m["marked"])
        assert (tr["compression"], tr["jpeg_quality"] is None) == (
            ("CCITTG4", True) if tr["color"] == "bw" else ("JPEG", False))
        assert tr["jpeg_quality"] is None or 35 <= tr["jpeg_quality"] <= 90
        assert abs(tr["skew"]) <= 3.0
        assert (t["pages"][0]["kind"] == "form") == (tr["extra_page"] is None)
        json.dumps(t)  # the truth is plain JSON


def test_rendered_corpus_covers_every_trait(rendered: list[tuple[bytes, dict]]) -> None:
    traits = [t["traits"] for _, t in rendered]
    for name, want in (("dpi", set(scanner.DPIS)), ("color", set(scanner.COLOR_MODES)),
                       ("orientation", set(scanner.ORIENTATIONS)), ("fill", set(scans.FILLS)),
                       ("extra_page", {None, "cover", "blank"})):
        assert {tr[name] for tr in traits} == want, name
    assert set().union(*(tr["mark_styles"] for tr in traits)) == set(marks.STYLES)
    assert Counter(bool(t["defects"]) for _, t in rendered) == {False: 10, True: 10}


def test_form_to_image_maps_the_printed_table_onto_its_rules(rendered: list[tuple[bytes, dict]]) -> None:
    """The truth's matrix puts the table's thick outer rules on dark pixels of the decoded page."""
    for pdf_bytes, t in rendered:
        doc = pdfium.PdfDocument(pdf_bytes, password="uspot")
        page = doc[t["form_page"]]
        dpi = t["traits"]["dpi"]
        img = np.asarray(page.render(scale=dpi / 72).to_pil().convert("L"))
        doc.close()
        assert np.median(img) > 200, t["id"]  # paper is light (a 1-bit page is not inverted)
        (a, b, c), (d, e, f) = t["form_to_image"]
        x0, y0, x1, y1 = t["boxes"]["table"]
        points = [(x0 + (x1 - x0) * k / 20, y) for k in range(1, 20) for y in (y0, y1)]
        points += [(x, y0 + (y1 - y0) * k / 20) for k in range(1, 20) for x in (x0, x1)]
        dark = 0
        for x, y in points:
            px, py = a * x + b * y + c, d * x + e * y + f
            r = 2
            patch = img[round(py) - r: round(py) + r + 1, round(px) - r: round(px) + r + 1]
            dark += patch.size > 0 and patch.min() < 110
        assert dark >= 0.9 * len(points), (t["id"], dark, len(points))


def test_cli_writes_pdf_preview_and_truth(tmp_path) -> None:
    assert cli_main(["--out", str(tmp_path), "--n", "20", "--only", "0", "3"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    for stem in ("scan-0000", "scan-0003"):
        assert {f"{stem}.pdf", f"{stem}.png", f"{stem}.json"} <= set(names)
        truth = json.loads((tmp_path / f"{stem}.json").read_text(encoding="utf-8"))
        assert truth["id"] == stem
    assert "index.tsv" in names
