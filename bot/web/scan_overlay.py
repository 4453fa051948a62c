"""A scanned form's page with what the reader found drawn on it, as PNG, for the 保留 review.

The reader reports every box in PDF points of the page as PDFium renders it (origin top-left,
y down: :class:`bot.forms.vocabulary.FieldReading`): the bounding rectangle of a box it found
on the page turned upright and straightened. So the page is put upright here exactly as the
reader did it (:mod:`bot.forms.raster`: rendered grey at 200 dpi, :func:`~bot.forms.raster.straighten`,
the same 180° second try), the colour rendering is warped with that same map, and each box is
taken back into the upright page (:func:`upright_box`): staff see the form straight, whatever
way the branch scanned it, with each box around its cell (not the bounding rectangle of a
tilted one, which on a skewed scan would reach into the next row).

Colours: green = read surely, blue = writing the reader saw but does not read (handwriting:
the vendor gets 申込書参照 unless a person types the value), orange, thick and tinted = unsure.
Each field carries the number of its line in the review table, left of its box (OpenCV
draws digits only: the table gives the Japanese label).

Runs inside a reader process (:func:`bot.forms.workers.shared_pool`), like :mod:`bot.web.pdfpages`,
under the same limits (the PDF guard in ``open_pdf``, ``worker_memory_mb``, ``pdf_seconds``);
this module imports no web code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.config.limits import Limits
from bot.web.pdfpages import PAGE_WIDTH

SURE, WRITTEN, UNSURE, MARKED, UNMARKED = "sure", "written", "unsure", "marked", "unmarked"
# RGB; the PNG's pixels carry exactly these on a box's outline (tests read them back).
COLOURS: dict[str, tuple[int, int, int]] = {
    SURE: (47, 133, 90), WRITTEN: (31, 111, 235), UNSURE: (232, 89, 12),
    MARKED: (47, 133, 90), UNMARKED: (154, 165, 177),
}
# Outline thickness in pixels at PAGE_WIDTH (a field's unsure box must catch the eye).
THICKNESS = {SURE: 2, WRITTEN: 3, UNSURE: 5, MARKED: 2, UNMARKED: 1}
TINT = 0.22  # how much of the colour is laid over an unsure cell


@dataclass(frozen=True)
class Outline:
    """One box to draw: `number` is the field's line in the review table (None: an option)."""

    number: int | None
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in PDF points (the reader's)
    style: str  # one of COLOURS


def turn_of(pairs: Sequence[tuple[tuple[float, float], tuple[float, float], str]]) -> int:
    """The clockwise quarter turn (0/90/180/270) the scan put the form in, by the vote of pairs of
    fields whose order the form prints (the centre of one, of the next, and ``"down"`` or
    ``"right"``: 回線種別 over 回線タイプ over 確認方法, 姓 left of 名 …): upright, "down" runs
    down the page; turned 90° clockwise, the form's top faces right, so "down" runs left.  The
    most votes win; a tie, the first pair's."""
    votes: list[int] = []
    for (ax, ay), (bx, by), way in pairs:
        dx, dy = bx - ax, by - ay
        if way == "right":
            dx, dy = -dy, dx  # what runs right, turned a quarter clockwise, runs down
        if dx == 0 and dy == 0:
            continue
        if abs(dy) >= abs(dx):
            votes.append(0 if dy > 0 else 180)
        else:
            votes.append(90 if dx < 0 else 270)
    if not votes:
        return 0
    return max(dict.fromkeys(votes), key=votes.count)


def upright_box(box_px: tuple[float, float, float, float], to_page: Any) -> tuple[float, float, float, float]:
    """The reader's box in the upright page's pixels, from its bounding rectangle on the page
    (`box_px`, page pixels) and the reader's map from upright pixels to page pixels (a
    rotation, :attr:`bot.forms.raster.Upright.to_page`). A w×h box turned by α has the bounding
    rectangle W = w|cos α| + h|sin α|, H = w|sin α| + h|cos α|: solved for w and h, around the
    same centre."""
    import numpy as np

    x0, y0, x1, y1 = box_px
    big_w, big_h = x1 - x0, y1 - y0
    c, s = abs(float(to_page[0][0])), abs(float(to_page[0][1]))
    det = c * c - s * s
    w, h = (big_w, big_h) if abs(det) < 0.2 else ((c * big_w - s * big_h) / det, (c * big_h - s * big_w) / det)
    w, h = max(w, 2.0), max(h, 2.0)
    m = np.vstack([np.asarray(to_page, dtype=float), [0.0, 0.0, 1.0]])
    cx, cy, _one = np.linalg.inv(m) @ np.array([(x0 + x1) / 2, (y0 + y1) / 2, 1.0])
    return (float(cx - w / 2), float(cy - h / 2), float(cx + w / 2), float(cy + h / 2))


def upright_page(plain: bytes, index: int, turn: int) -> tuple[Any, Any]:
    """(the page in colour, upright and straight at the reader's 200 dpi, BGR; the reader's
    map from its pixels to the page's), as :func:`bot.forms.scanned.find_form` got it."""
    import cv2
    import numpy as np
    import pypdfium2

    from bot.forms import raster

    grey, size = raster.render(plain, index)
    up = raster.straighten(grey, size)
    if (turn - up.rotation) % 360:
        # the reader found the labels the other way up, or sideways (bot.forms.scan_words.by_words)
        up = raster.turned(up, grey, (turn - up.rotation) % 360)
    pdf = pypdfium2.PdfDocument(plain)
    try:
        page = pdf[index]
        colour = np.ascontiguousarray(page.render(scale=raster.PT, may_draw_forms=False).to_numpy()[:, :, :3])
        page.close()
    finally:
        pdf.close()
    height, width = up.image.shape[:2]
    forward = cv2.invertAffineTransform(up.to_page)
    image = cv2.warpAffine(colour, forward, (width, height), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255))
    return image, up.to_page


def render_overlay(data: bytes, password: str, limits: Limits, index: int, outlines: Sequence[Outline],
                   turn: int = 0, width: int = PAGE_WIDTH) -> bytes:
    """Page `index` (0-based), upright, with the outlines drawn, as PNG bytes `width` pixels
    wide. `turn`: the quarter turn the boxes say the form lies in (:func:`turn_of`). ValueError
    for a page the PDF does not have."""
    import cv2
    import numpy as np

    from bot.forms import raster
    from bot.forms.unlock import open_pdf

    doc = open_pdf(data, password, limits=limits)
    if not 0 <= index < doc.pages:
        raise ValueError(f"page {index + 1} of {doc.pages}")
    image, to_page = upright_page(doc.plain, index, turn)
    factor = width / image.shape[1]
    img = cv2.resize(image, (width, round(image.shape[0] * factor)), interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]

    def pixels(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        up = upright_box(tuple(v * raster.PT for v in box), to_page)  # type: ignore[arg-type]
        x0, y0, x1, y1 = (round(v * factor) for v in up)
        return (max(0, min(x0, w - 1)), max(0, min(y0, h - 1)), max(0, min(x1, w - 1)), max(0, min(y1, h - 1)))

    def bgr(style: str) -> tuple[int, int, int]:
        r, g, b = COLOURS[style]
        return (b, g, r)

    # Options first, then fields (an unsure field's outline stays on top); tints before outlines.
    ordered = sorted(outlines, key=lambda o: (o.number is not None, o.style == UNSURE))
    for o in ordered:
        if o.style == UNSURE and o.number is not None:
            x0, y0, x1, y1 = pixels(o.box)
            cell = img[y0:y1 + 1, x0:x1 + 1].astype(np.float32)
            img[y0:y1 + 1, x0:x1 + 1] = (cell * (1 - TINT) + np.array(bgr(UNSURE), np.float32) * TINT).astype(np.uint8)
    for o in ordered:
        x0, y0, x1, y1 = pixels(o.box)
        cv2.rectangle(img, (x0, y0), (x1, y1), bgr(o.style), THICKNESS[o.style], lineType=cv2.LINE_8)
    _numbers(img, [(o.number, pixels(o.box), o.style) for o in outlines if o.number is not None])
    ok, png = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ValueError("PNG encoding failed")
    return png.tobytes()


def _numbers(img: Any, tags: Sequence[tuple[int, tuple[int, int, int, int], str]]) -> None:
    """A filled tag with the field's number just left of each box, where the form prints its
    label column (the writing in the box stays visible); two fields sharing one box, like
    親機/子機, get their tags side by side."""
    import cv2

    font, size, weight = cv2.FONT_HERSHEY_SIMPLEX, 0.55, 2
    taken: list[tuple[int, int, int, int]] = []
    for number, (x0, y0, _x1, y1), style in sorted(tags, key=lambda t: t[0]):
        text = str(number)
        (tw, th), base = cv2.getTextSize(text, font, size, weight)
        tag_w, tag_h = tw + 8, th + base + 6
        left, top = max(0, x0 - tag_w - 3), max(0, (y0 + y1) // 2 - tag_h // 2)
        while left > 0 and any(left < r and left + tag_w > q and top < b and top + tag_h > p for q, p, r, b in taken):
            left = max(0, left - tag_w - 2)
        taken.append((left, top, left + tag_w, top + tag_h))
        r, g, b = COLOURS[style]
        cv2.rectangle(img, (left, top), (left + tag_w, top + tag_h), (b, g, r), thickness=-1)
        cv2.putText(img, text, (left + 4, top + th + 3), font, size, (255, 255, 255), weight, cv2.LINE_AA)
