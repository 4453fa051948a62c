"""Page images: rasterise an image-only page, judge ink against the page's own levels, put the
page upright (90/180/270°) and straight (skew ±6°), and find its ruling lines.

Everything here works on greyscale ``uint8`` arrays at :data:`DPI` and knows nothing of the
form's labels: :mod:`bot.forms.scanned` uses it to find the form's table, cells and labels.

Upright and straight in one affine map: :class:`Upright` holds the image as a person reads it
and the 2×3 matrix from its pixels back to the rendered page, so every box the reader reports
can be given in the PDF page's points (origin top-left, y down).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import pypdfium2 as pdfium

# One thread per reader process: pages are read in parallel across the reader processes
# (bot/forms/workers.py), and OpenCV's own thread pool on top of them only fights for the same cores
# (issue 8: a pool of two readers against one).
cv2.setNumThreads(1)

DPI = 200  # working resolution: 150 dpi scans are scaled up, 300 dpi scans down
PT = DPI / 72  # pixels per point
_SMALL = 4  # analysis of orientation and skew at DPI / 4


@dataclass(frozen=True)
class Levels:
    """The page's own light and dark: paper, print, and the threshold between them."""

    paper: float
    ink: float

    @property
    def threshold(self) -> float:
        return (self.paper + self.ink) / 2

    @property
    def contrast(self) -> float:
        return self.paper - self.ink


@dataclass(frozen=True)
class Upright:
    image: np.ndarray  # greyscale, upright and deskewed
    ink: np.ndarray  # bool mask of ink (page levels)
    levels: Levels
    rotation: int  # clockwise degrees the page image was turned by the scan (0/90/180/270)
    skew: float  # clockwise degrees of residual skew that was removed
    to_page: np.ndarray  # 2x3: upright pixels -> rendered page pixels
    page_size: tuple[float, float]  # the PDF page in points (w, h)

    def box_in_page(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """An upright box (pixels) as a box of the PDF page in points (origin top-left, y down)."""
        x0, y0, x1, y1 = box
        pts = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], float) @ self.to_page.T
        lo, hi = pts.min(axis=0) / PT, pts.max(axis=0) / PT
        return (round(float(lo[0]), 1), round(float(lo[1]), 1), round(float(hi[0]), 1), round(float(hi[1]), 1))


def render(plain: bytes, index: int) -> tuple[np.ndarray, tuple[float, float]]:
    """Page ``index`` of a decrypted PDF as greyscale at :data:`DPI`, and its size in points."""
    doc = pdfium.PdfDocument(plain)
    try:
        page = doc[index]
        size = (float(page.get_width()), float(page.get_height()))
        bitmap = page.render(scale=PT, grayscale=True, may_draw_forms=False)
        arr = bitmap.to_numpy()
        img = np.array(arr[:, :, 0] if arr.ndim == 3 else arr, dtype=np.uint8)
        page.close()
        return img, size
    finally:
        doc.close()


@dataclass(frozen=True)
class ContentPage:
    """A page that is not blank, turned upright, with the deadline its reading must keep."""

    index: int
    deadline: float
    image: np.ndarray  # as rendered (before straightening)
    upright: Upright


def content_pages(plain: bytes, *, pages: int, seconds: float, notes: list[str]) -> Iterator[ContentPage]:
    """The first `pages` pages, each rendered and straightened; a blank one is noted and skipped.
    Each page's deadline starts when it is rendered (`seconds`: ocr_page_seconds)."""
    for index in range(min(page_count(plain), pages)):
        deadline = time.monotonic() + seconds
        img, size = render(plain, index)
        lv = levels(img)
        if lv.contrast < 60 or float((img < lv.threshold).mean()) < 0.002:
            notes.append(f"page {index + 1}: blank")
            continue
        yield ContentPage(index, deadline, img, straighten(img, size))


def page_count(plain: bytes) -> int:
    doc = pdfium.PdfDocument(plain)
    try:
        return len(doc)
    finally:
        doc.close()


def levels(img: np.ndarray) -> Levels:
    """Paper = the page's most common light level; ink = its darkest percentile (print or pen).

    OMRChecker's idea: judge ink against this page's own levels, not a fixed threshold, so a
    grey scan with a dark paper tone and a crisp black-and-white scan are judged alike."""
    small = img[::4, ::4]
    hist = np.bincount(small.ravel(), minlength=256)
    paper = float(np.argmax(hist[96:]) + 96)
    ink = float(np.percentile(small, 0.3))
    return Levels(paper=paper, ink=min(ink, paper))


def ink_mask(img: np.ndarray, lv: Levels) -> np.ndarray:
    return img < lv.threshold


def _profile_score(mask: np.ndarray, angle: float, axis: int) -> float:
    h, w = mask.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    rot = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    prof = rot.sum(axis=axis, dtype=np.float64)
    return float(np.dot(prof, prof))


def _best_angle(mask: np.ndarray, axis: int, centre: float, span: float, step: float) -> tuple[float, float]:
    best = (centre, -1.0)
    n = int(round(span / step))
    for k in range(-n, n + 1):
        a = centre + k * step
        s = _profile_score(mask, a, axis)
        if s > best[1]:
            best = (a, s)
    return best


def _rotate_mask_like(img: np.ndarray, quarter: int) -> np.ndarray:
    return np.rot90(img, -quarter // 90) if quarter else img


def straighten(img: np.ndarray, page_size: tuple[float, float]) -> Upright:
    """Turn the page upright and straight.

    Skew and the 90° question come from projection profiles: the form's ruled rows and text
    lines make the row profile of an upright (or upside-down) page sharply peaked; a sideways
    page peaks in its column profile instead.  Upside down is told by where the long vertical
    rules sit (the label column is on the left of the table); :mod:`bot.forms.scanned` also
    tries the other way up when the labels do not read.
    """
    lv = levels(img)
    small = cv2.resize(img, (img.shape[1] // _SMALL, img.shape[0] // _SMALL), interpolation=cv2.INTER_AREA)
    mask = (small < lv.threshold).astype(np.uint8)
    # Rows (axis=1 sums over columns) vs columns, over a coarse grid of angles.
    row_a, row_s = _best_angle(mask, 1, 0.0, 6.0, 0.5)
    col_a, col_s = _best_angle(mask, 0, 0.0, 6.0, 0.5)
    sideways = col_s > row_s * 1.05
    axis = 0 if sideways else 1
    coarse = col_a if sideways else row_a
    mid = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
    mid_mask = (mid < lv.threshold).astype(np.uint8)
    angle, _ = _best_angle(mid_mask, axis, coarse, 0.5, 0.1)
    angle, _ = _best_angle(mid_mask, axis, angle, 0.1, 0.025)
    quarter = 90 if sideways else 0
    up = _warp(img, lv, angle, quarter, page_size)
    if _upside_down(up.ink):
        up = _warp(img, lv, angle, quarter + 180, page_size)
    return up


def flipped(up: Upright, img: np.ndarray) -> Upright:
    """The same page turned another 180°."""
    return turned(up, img, 180)


def turned(up: Upright, img: np.ndarray, quarter: int) -> Upright:
    """The same page turned another ``quarter`` degrees (90, 180, 270) clockwise."""
    return _warp(img, up.levels, up.skew, (up.rotation + quarter) % 360, up.page_size)


def _warp(img: np.ndarray, lv: Levels, angle_ccw: float, quarter: int, page_size: tuple[float, float]) -> Upright:
    """Rotate ``img`` by ``angle_ccw`` (OpenCV's sense, degrees) and then by -``quarter``
    (undo a clockwise turn of the scan); the result and the map back."""
    h, w = img.shape
    q = quarter % 360
    out_w, out_h = (h, w) if q in (90, 270) else (w, h)
    # rotation about the centre, composed with the quarter turn, as one affine map
    total = math.radians(angle_ccw + q)  # OpenCV: positive = counter-clockwise
    c, s = math.cos(total), math.sin(total)
    # forward: image px -> upright px (rotate about image centre, recentre on output)
    fwd = np.array([[c, s, 0.0], [-s, c, 0.0]])
    fwd[:, 2] = np.array([out_w / 2, out_h / 2]) - fwd[:, :2] @ np.array([w / 2, h / 2])
    white = int(round(lv.paper))
    up = cv2.warpAffine(img, fwd, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=white)
    back = cv2.invertAffineTransform(fwd)
    return Upright(image=up, ink=up < lv.threshold, levels=lv, rotation=q, skew=angle_ccw,
                   to_page=back, page_size=page_size)


def lenient_ink(up: Upright) -> np.ndarray:
    """Ink at the lenient threshold (light pencil, blue ink in grey, a thin dotted rule)."""
    return up.image < up.levels.paper - 0.3 * up.levels.contrast


def stretched(img: np.ndarray, lv: Levels) -> np.ndarray:
    """``img`` with the page's own levels stretched to black on white: Tesseract sees every
    scan alike."""
    span = max(1.0, lv.paper - lv.ink)
    return np.clip((img.astype(np.float32) - lv.ink) * (255.0 / span), 0, 255).astype(np.uint8)


def lines(ink: np.ndarray, *, horizontal: bool, min_len_pt: float) -> np.ndarray:
    """Mask of straight ruling lines at least ``min_len_pt`` long (morphological opening)."""
    n = max(3, int(min_len_pt * PT))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (n, 1) if horizontal else (1, n))
    src = ink.astype(np.uint8)
    # bridge one-pixel gaps (noise, thin rules in grey scans) before opening
    bridge = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 1) if horizontal else (1, 3))
    src = cv2.morphologyEx(src, cv2.MORPH_CLOSE, bridge)
    return cv2.morphologyEx(src, cv2.MORPH_OPEN, kernel).astype(bool)


def _upside_down(ink: np.ndarray) -> bool:
    """True when the longest inner vertical rule (the label column) sits right of the table's
    middle, or, with no table, when the ink's weight sits low on the page (a title on top)."""
    vert = lines(ink[::2, ::2], horizontal=False, min_len_pt=40 / 2)
    cols = vert.sum(axis=0)
    h, w = vert.shape
    strong = np.flatnonzero(cols > 0.25 * h)
    if strong.size >= 3:
        left, right = strong.min(), strong.max()
        inner = [(cols[x], x) for x in strong if left + 0.04 * (right - left) < x < right - 0.04 * (right - left)]
        if inner and right - left > 0.4 * w:
            x = max(inner)[1]
            return bool(x > (left + right) / 2)
    rows = ink.sum(axis=1).astype(float)
    top = rows[: len(rows) // 5].sum()
    bottom = rows[-len(rows) // 5:].sum()
    return bool(bottom > top * 1.3)
