"""The text layer: PDFium's text of every page cut into visual lines (geometry only orders
the text; labels are matched elsewhere).

PDFium is not thread-safe, so every call into it holds :data:`PDFIUM_LOCK`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

PDFIUM_LOCK = threading.Lock()


@dataclass(frozen=True)
class Line:
    """One visual line of text: segments on the same baseline joined left to right."""

    text: str
    page: int
    top: float  # PDF user space, y grows upwards
    bottom: float
    left: float

    @property
    def height(self) -> float:
        return max(self.top - self.bottom, 1.0)




def text_lines(plain_pdf: bytes) -> tuple[tuple[Line, ...], bool]:
    """Visual lines of every page (top to bottom, segments left to right), and whether any
    page carries an image.

    PDFium's own text (``get_text_range``: U+3000, letter spacing and the CID hyphen come
    out right) is cut at its line breaks into segments; each segment gets a box from its
    characters' boxes (one char index per character of that text).  Segments sharing a
    baseline are merged into one line, so the order does not depend on the order in which
    the writer put text into the content stream (Word tables emit cells in odd orders).
    ``get_text_bounded`` is not used: it drops U+3000, which the SSID check needs.
    """
    lines: list[Line] = []
    has_images = False
    with PDFIUM_LOCK:
        doc = pdfium.PdfDocument(plain_pdf)
        try:
            for index in range(len(doc)):
                page = doc[index]
                try:
                    textpage = page.get_textpage()
                    try:
                        segments = _segments(textpage)
                    finally:
                        textpage.close()
                    if not has_images:
                        has_images = any(True for _ in page.get_objects(
                            filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=2))
                finally:
                    page.close()
                lines.extend(_merge_segments(segments, index))
        finally:
            doc.close()
    return tuple(lines), has_images


_Segment = tuple[float, float, float, float, str]  # left, bottom, right, top, text


def _segments(textpage: pdfium.PdfTextPage) -> list[_Segment]:
    text = textpage.get_text_range()
    n_chars = textpage.count_chars()
    out: list[_Segment] = []
    pos = 0
    for raw in re.split(r"(\r\n|\r|\n)", text):
        start, pos = pos, pos + len(raw)
        if not raw.strip() or raw in ("\r\n", "\r", "\n"):
            continue
        if len(text) != n_chars:  # never seen; keep the text, lose the geometry
            out.append((0.0, -float(len(out) * 12), 1.0, -float(len(out) * 12) + 10.0, raw))
            continue
        boxes = [textpage.get_charbox(i) for i in range(start, start + len(raw)) if not text[i].isspace()]
        boxes = [b for b in boxes if b[3] > b[1]] or boxes
        out.append((min(b[0] for b in boxes), min(b[1] for b in boxes),
                    max(b[2] for b in boxes), max(b[3] for b in boxes), raw))
    return out


def _merge_segments(segments: list[_Segment], page: int) -> list[Line]:
    segments.sort(key=lambda s: (-s[3], s[0]))
    rows: list[list[_Segment]] = []
    for seg in segments:
        _, bottom, _, top, _ = seg
        mid = (top + bottom) / 2
        for row in rows[-3:]:  # only recent rows can share a baseline (sorted by top)
            r_top = max(s[3] for s in row)
            r_bottom = min(s[1] for s in row)
            if r_bottom <= mid <= r_top:
                row.append(seg)
                break
        else:
            rows.append([seg])
    lines = []
    for row in rows:
        row.sort(key=lambda s: s[0])
        text = ""
        prev_right = None
        for left, bottom, right, top, seg_text in row:
            height = max(top - bottom, 1.0)
            if text and prev_right is not None and not text[-1].isspace() and not seg_text[0].isspace() \
                    and left - prev_right > 0.3 * height:
                text += " "
            text += seg_text
            prev_right = right
        lines.append(Line(text=text.strip(), page=page, top=max(s[3] for s in row),
                           bottom=min(s[1] for s in row), left=row[0][0]))
    return lines


def has_text(lines: Sequence[Line]) -> bool:
    return any(line.text.strip() for line in lines)
