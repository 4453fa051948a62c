"""The printed words of a page, wherever they stand: the form's labels and its choices' words.

The whole upright page is read once by Tesseract in sparse-text mode (PSM 11), with its long
ruling lines (solid, dashed or dotted) taken away first: they are no text and only slow the
engine down.  Each text line comes back as characters with boxes; the FORM-SPEC vocabulary
(:data:`bot.forms.table.LABELS` / ``BLOCKS``) is then looked for *inside* the lines by an
approximate substring match, because an engine puts a label and the value beside it on one
line as readily as on two.

A label is only a label when it stands on its own: a sentence of the page's notes that holds
the words (「・メールアドレスは半角英小文字…」) has print right against them on both sides,
a printed label has paper, a colon, a bracket or a note (※…, (9桁)) beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from bot.forms import ocr
from bot.forms.normalise import nfkc
from bot.forms.raster import PT, Upright, lenient_ink, lines
from bot.forms.table import BLOCKS, LABELS

Box = tuple[int, int, int, int]

# The choices' printed words (FORM-SPEC), as folded text; each names the option it stands beside.
OPTION_WORDS: tuple[tuple[str, str, str], ...] = (
    ("line_kind", "hikari_next", "フレッツ光ネクスト"),
    ("line_kind", "b_flets", "bフレッツ"),
    ("line_type", "family", "ファミリー"),
    ("line_type", "mansion", "マンション"),
    ("check_method", "notice", "開通通知書"),
    ("check_method", "bill", "ntt請求書"),
    ("check_method", "ntt116", "116へ確認"),
    ("plus", "on", "申し込む"),
)
# What may stand right against a label: brackets, colons, a note's mark.
_OPENERS = set("(（【<＜〈[「※:：)）】>＞〉]」・")
# Labels of one or two characters (名称, 住所, 台数, 備考) must be read exactly.
_SHORT = 2


@dataclass(frozen=True)
class Char:
    text: str  # folded
    box: Box
    conf: float


@dataclass(frozen=True)
class Line:
    chars: tuple[Char, ...]

    @property
    def text(self) -> str:
        return "".join(c.text for c in self.chars)

    @property
    def height(self) -> float:
        hs = sorted(c.box[3] - c.box[1] for c in self.chars)
        return float(hs[len(hs) // 2]) if hs else 0.0


_SHORT_CHARS = frozenset("ーｰ－-ぁぃぅぇぉっゃゅょァィゥェォッャュョ・")  # flat or small: no measure of a word's height


@dataclass(frozen=True)
class Found:
    """A vocabulary word found on the page: ``key`` is the label's key (``kana``, ``shop_name``
    …), ``block:<name>`` for a section heading, or ``option:<field>.<key>`` for a choice word."""

    key: str
    text: str
    box: Box
    score: float  # 1 - edit distance / length of the vocabulary word
    size: int = 0  # the print's height: the median of its characters' heights
    middle: float = 0.0  # the median of its characters' middles (a mark over a word stretches its box)

    @property
    def height(self) -> int:
        return self.size or self.box[3] - self.box[1]

    @property
    def mid(self) -> float:
        """Where the word's line runs: its characters' middle, else its box's."""
        return self.middle or (self.box[1] + self.box[3]) / 2


@dataclass(frozen=True)
class Band:
    """A line of text read on the page: its left and right ends and the band of its characters
    (their median middle ± half their median height: a circle round a word does not widen it)."""

    x0: int
    x1: int
    top: float
    bottom: float
    text: str = ""  # what was read on it

    @property
    def mid(self) -> float:
        return (self.top + self.bottom) / 2


def rule_mask(lenient: np.ndarray) -> np.ndarray:
    """Ruling lines of the page: solid rules, and dotted or dashed ones, horizontal and
    vertical, found at a lenient threshold (a thin dotted line prints light) and thickened by
    two pixels (their grey edges).  A dotted or dashed rule is a row of thin flat pieces: only
    pieces at most a rule's thickness high are bridged (the strokes of a line of text are
    taller, and would merge into a "rule" through the text).  ``lenient``: the page's ink at
    the lenient threshold (:func:`bot.forms.raster.lenient_ink`)."""
    ink = lenient.astype(np.uint8)
    n, lab, st, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    flat = np.zeros(n, bool)
    flat[1:] = (st[1:, cv2.CC_STAT_HEIGHT] <= max(3, int(1.6 * PT))) & (st[1:, cv2.CC_STAT_WIDTH] <= 12 * PT)
    pieces = flat[lab].astype(np.uint8)
    bridged = cv2.morphologyEx(pieces, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (int(3 * PT), 1)))
    dotted = lines(bridged.astype(bool), horizontal=True, min_len_pt=60) & _near(pieces)
    h = lines(ink.astype(bool), horizontal=True, min_len_pt=60) | dotted
    v = lines(ink.astype(bool), horizontal=False, min_len_pt=30)
    both = (h | v).astype(np.uint8)
    return cv2.dilate(both, np.ones((5, 5), np.uint8)).astype(bool)


def _bars(lenient: np.ndarray) -> np.ndarray:
    """Upright strokes too long for a character of print (18 pt: a label is 7–12 pt, a title
    16 pt) and too short for a ruling line: the sides of digit boxes and of small frames.  OCR
    reads them as "|" and, beside them, reads a label's characters poorly (顧客CD before nine
    digit cells read 「鷹才cp|7|7|4…」, seed 20001); whited out for OCR only (every other
    reading keeps them as ink)."""
    v = lines(lenient, horizontal=False, min_len_pt=18)
    return cv2.dilate(v.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def _near(ink: np.ndarray) -> np.ndarray:
    return cv2.dilate(ink.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def read_lines(up: Upright, rules: np.ndarray, *, seconds: float) -> list[Line]:
    """The page's text lines (PSM 11) with the ruling lines whited out first."""
    img = up.image.copy()
    img[rules] = 255
    img[_bars(lenient_ink(up))] = 255
    res = ocr.recognise(img, lang="jpn", psm=ocr.PSM_SPARSE_TEXT, seconds=seconds)
    out = []
    for ln in res.lines():
        chars = []
        for s in ln.symbols:
            for ch in nfkc(s.text).casefold():
                if not ch.isspace():
                    chars.append(Char(ch, s.box, s.conf))
        if chars:
            out.append(Line(tuple(chars)))
    return out


def band(line: Line) -> Band:
    """The line's :class:`Band`: its ends, and its characters' median middle ± half their median
    height."""
    mids = sorted((c.box[1] + c.box[3]) / 2 for c in line.chars)
    mid, half = mids[len(mids) // 2], line.height / 2
    return Band(min(c.box[0] for c in line.chars), max(c.box[2] for c in line.chars), mid - half, mid + half,
                line.text)


def _best_window(term: str, text: str) -> tuple[int, int, int]:
    """(distance, start, end) of the substring of ``text`` closest to ``term`` (Sellers)."""
    n = len(term)
    prev = [0] * (len(text) + 1)  # a match may start anywhere: row 0 is all zeros
    starts = list(range(len(text) + 1))
    for i in range(1, n + 1):
        cur = [i] + [0] * len(text)
        cur_starts = [0] * (len(text) + 1)
        for j in range(1, len(text) + 1):
            sub = prev[j - 1] + (term[i - 1] != text[j - 1])
            dele = prev[j] + 1
            ins = cur[j - 1] + 1
            best = min(sub, dele, ins)
            cur[j] = best
            cur_starts[j] = starts[j - 1] if best == sub else (starts[j] if best == dele else cur_starts[j - 1])
        prev, starts = cur, cur_starts
    end = min(range(len(text) + 1), key=lambda j: (prev[j], -j))
    return prev[end], starts[end], end


def _alone(line: Line, a: int, b: int, *, left: bool = True) -> bool:
    """The characters [a, b) are not part of a sentence: on each side, paper (a gap of at
    least half a character), a bracket / colon / note mark, or the end of the line.  A
    choice's word is looked at on its right only (its box, read as 口 or 田, stands left).  A
    character is the word's own height: a tick through the next option's box, read into the
    line, makes the line's characters tall (開通通知書 beside a ticked ☑NTT請求書: 58 px
    against the word's 23, seed 20001, and the word was taken for part of a sentence)."""
    own = sorted(c.box[3] - c.box[1] for c in line.chars[a:b])
    h = max(line.height, 1.0)
    if own and h > 1.5 * own[len(own) // 2]:
        h = max(float(own[len(own) // 2]), 1.0)

    def side_ok(inner: Char, outer: Char | None, left: bool) -> bool:
        if outer is None or outer.text in _OPENERS or inner.text in _OPENERS:
            return True
        gap = inner.box[0] - outer.box[2] if left else outer.box[0] - inner.box[2]
        return gap >= 0.45 * h or abs((outer.box[1] + outer.box[3]) - (inner.box[1] + inner.box[3])) > h

    chars = line.chars
    return ((not left or side_ok(chars[a], chars[a - 1] if a > 0 else None, True))
            and side_ok(chars[b - 1], chars[b] if b < len(chars) else None, False))


def _vocabulary() -> list[tuple[str, str]]:
    terms: list[tuple[str, str]] = []
    for key, words in LABELS:
        # ご担当者 is the contact block's heading when it stands alone (ご担当者名 is the label)
        terms.extend((key, w.replace(" ", "")) for w in words if w != "ご担当者")
    terms.append(("block:contact", "ご担当者"))
    for key, words in BLOCKS:
        terms.extend((f"block:{key}", w.strip("【】")) for w in words if not w.startswith("【"))
    terms.extend((f"option:{f}.{k}", w) for f, k, w in OPTION_WORDS)
    return terms


_TERMS = _vocabulary()
_HEADINGS_ONLY_ALONE = {"block:line", "block:mail", "block:contact", "block:service"}


_NOTE_MARKS = "※＊*"  # a line of print opening with one of these is a note


def find(lines_: list[Line]) -> list[Found]:
    """Every vocabulary word standing on its own on the page, best match per place."""
    found: list[Found] = []
    spans: dict[int, tuple[int, int, int]] = {}  # id(found) → (line, first character, end)
    for n, line in enumerate(lines_):
        text = line.text
        letters = set(text)
        for key, term in _TERMS:
            if sum(ch in letters for ch in term) < max(1, len(term) - 2):
                continue
            dist, a, b = _best_window(term, text)
            if b <= a:
                continue
            allowed = 0 if len(term) <= _SHORT else (1 if len(term) <= 5 else 2)
            if key == "customer_code" and term.endswith("cd"):
                allowed = 2  # 「顧客CD」's kanji misread at 150-200 dpi (応害cd): places checks its value
            if dist > allowed:
                continue
            if key in _HEADINGS_ONLY_ALONE and not _heading(line, a, b):
                continue  # 回線 inside ご利用回線種別, メール inside ご希望のメールアドレス …
            if not _alone(line, a, b, left=not key.startswith("option:")):
                continue
            if text[:1] in _NOTE_MARKS and a > 0 and not key.startswith("option:"):
                continue  # a label's words inside a note (「※Wi-Fiを設置する店舗・施設」) are no label
            while b < len(line.chars) and line.chars[b].text in ":;)）】>＞〉]":
                b += 1  # the label's colon or closing bracket is the label's, not the value's
            cs = line.chars[a:b]
            box = (min(c.box[0] for c in cs), min(c.box[1] for c in cs),
                   max(c.box[2] for c in cs), max(c.box[3] for c in cs))
            # a character's box may take in a remnant of a rule beside it: its height can be
            # too tall, never its width (a word's width / characters, for full-width print)
            # (the median over the characters of full height: ー, ッ, ァ … are flat or small, and
            # ファミリー's median was its small ァ, half the print's height: seed 20002)
            tall = [c.box[3] - c.box[1] for c in cs if c.text not in _SHORT_CHARS] or [c.box[3] - c.box[1] for c in cs]
            size = min(sorted(tall)[len(tall) // 2], int(1.25 * (box[2] - box[0]) / len(cs)) + 1)
            middle = sorted((c.box[1] + c.box[3]) / 2 for c in cs)[len(cs) // 2]
            found.append(Found(key, "".join(c.text for c in cs), box, round(1 - dist / len(term), 3), size, middle))
            spans[id(found[-1])] = (n, a, b)
    return _best_per_place(found, spans)


def _heading(line: Line, a: int, b: int) -> bool:
    """A section heading: the word with nothing but brackets around it on its line."""
    rest = line.text[:a] + line.text[b:]
    return all(ch in "【】<>＜＞〈〉[]()（）|" for ch in rest)


def _best_per_place(found: list[Found], spans: dict[int, tuple[int, int, int]] | None = None) -> list[Found]:
    """Where two words of the vocabulary were found over the same characters (店舗/施設名 and
    名称 do not share any; ご担当者名 and ご担当者 do), the longer, better match stays: boxes
    overlapping by half, or half the characters of the shorter on one line (「[フレッツ」 taken
    for Bフレッツ out of 「[フレッツ光ネクスト」, seed 20001: tall brackets keep the boxes apart)."""
    spans = spans or {}

    def shared(f: Found, k: Found) -> bool:
        a, b = spans.get(id(f)), spans.get(id(k))
        if a is None or b is None or a[0] != b[0]:
            return False
        common = min(a[2], b[2]) - max(a[1], b[1])
        return common > 0 and 2 * common >= min(a[2] - a[1], b[2] - b[1])

    order = sorted(found, key=lambda f: (-(f.score * len(f.text)), -len(f.text)))
    kept: list[Found] = []
    for f in order:
        if any(overlap(f.box, k.box) > 0.5 or shared(f, k) for k in kept):
            continue
        kept.append(f)
    return sorted(kept, key=lambda f: (f.box[1], f.box[0]))


def overlap(a: Box, b: Box) -> float:
    """The share of the smaller box that the two boxes have in common (0.0: apart)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / max(small, 1)
