"""The mail address cell of a scanned form: the address without the printed ``@uspot.jp``,
and its katakana reading in the next row.

An address is sure only when two independent reads agree: the printed letters (Tesseract,
English) and the reading spelled letter by letter (ティー = t, ワン = 1 …).  OCR confuses a few
glyphs in print (i/l/1, o/0 …) and ブ/プ in the reading; where the two reads differ only in
those, the reading says which letter it is.  On a handwritten form (code not printed) the
address is filled, never read.
"""

from __future__ import annotations

import re

from bot.domain.kana import reading_to_ascii
from bot.forms.cells import Box, Page, Text, cell_ink, clusters, read_ocr, writing
from bot.forms.raster import PT
from bot.forms.table import Row
from bot.forms.vocabulary import STATE_FILLED, STATE_UNSURE

_MAIL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.-_"

# The printed @uspot.jp read alone (nothing typed against it): OCR often loses the j or reads it y.
_DOMAIN_ALONE = re.compile(r"[@q]?[uo]?sp[o0]t[.,]?[jyi]?p?")
_TAIL = re.compile(r"[@q]?u?sp[o0]t\.?jp?$|@.*$")
# Glyphs OCR confuses in a printed address; the katakana reading (ティー, ワン, アイ …) tells them apart.
_CONFUSABLE = {c: k for k, group in enumerate(("il1tj|!", "o0", "s5", "z2", "b6", "gq9")) for c in group}
# A reading begins and ends with a kana (ー may end it): a ~ or - OCR saw in a speck or the
# cell's edge before or after it is no part of it.
_JUNK_ENDS = re.compile(r"^[^\u3041-\u3096\u30a1-\u30fa]+|[^\u3041-\u3096\u30a1-\u30fc]+$")
# One ピ read as two kana, ビ and ピ (Tesseract keeps both hypotheses for the ゜): no letter
# name ends in バ/ビ/ブ…/パ/ピ/プ… and begins with the same kana, so the pair is one kana.
_TWIN = re.compile("|".join(a + b + "|" + b + a for a, b in zip("バビブベボ", "パピプペポ", strict=True)))
_HANDAKUTEN = str.maketrans("パピプペポバビブベボ", "バビブベボパピプペポ")  # ブ/プ print nearly alike


def _strip_domain(text: str) -> str:
    """'c-aoyaquspot.jp' → 'c-aoya': the printed @uspot.jp when OCR read it with the address
    (a local part may itself end in 'spot': only a tail with 'jp' or '@' is the domain)."""
    m = _TAIL.search(text)
    if m and ("jp" in m.group() or "@" in m.group() or "usp" in m.group()):
        text = text[: m.start()]
    return text.rstrip("._-")


def _same_glyphs(spelled: str, seen: str) -> bool:
    return len(spelled) == len(seen) and all(
        a == b or (a in _CONFUSABLE and _CONFUSABLE[a] == _CONFUSABLE.get(b)) for a, b in zip(spelled, seen, strict=True))


def agree(local: str, reading: str) -> tuple[str, str] | None:
    """The address and its reading when the two reads agree: (local, reading), or None.

    The reading spells the address letter by letter; the printed address is the same letters.
    They agree when the reading spells exactly what was read, or what was read up to glyphs OCR
    confuses in print (i/l/1, o/0 …: the reading says which); a reading whose ブ/プ OCR may have
    swapped is tried both ways.  Two independent reads agreeing is what makes a value sure."""
    reading = _TWIN.sub(lambda m: m.group()[-1] if m.group()[-1] in "パピプペポ" else m.group()[0],
                        _JUNK_ENDS.sub("", reading))
    marks = [i for i, ch in enumerate(reading) if ch in "パピプペポバビブベボ"][:4]
    for n in range(1 << len(marks)):
        chars = list(reading)
        for bit, i in enumerate(marks):
            if n >> bit & 1:
                chars[i] = chars[i].translate(_HANDAKUTEN)
        variant = "".join(chars)
        spelled = reading_to_ascii(variant)
        if spelled and (spelled == local or _same_glyphs(spelled, local)):
            return spelled, variant
    return None


# Ink this small is still print in an address: a full stop, the dot of an i, the ゛ of ド and
# the ゜ of ピ are 2–3 px at 200 dpi (the default speck size of 4 px took them away: luce.net
# read as lucenet, ドット as トット).
_DOT_PX = 2
_LOCAL_WHITELIST = _MAIL_CHARS + "@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SECOND_SCALE = 1.5


def _second_look(page: Page, area: Box, reading_box: Box, local: str, reading: str) -> tuple[str, str] | None:
    """When the two reads disagree: read both cells once more at a larger scale (Tesseract
    splits and merges kana differently: an extra ビ before ピ, a doubled ゴ) and try every pair
    of reads.  Still two independent reads that must agree: nothing is guessed."""
    res, _, _ = read_ocr(page, area, lang="eng", whitelist=_LOCAL_WHITELIST, min_px=_DOT_PX, scale=_SECOND_SCALE)
    rres, _, _ = read_ocr(page, reading_box, lang="jpn", min_px=_DOT_PX, scale=_SECOND_SCALE)
    locals_ = dict.fromkeys((local, _strip_domain(res.text.replace(" ", "").lower())))
    readings = dict.fromkeys((reading, rres.text.replace(" ", "")))
    for rd in readings:
        for loc in locals_:
            if loc:
                both = agree(loc, rd)
                if both is not None:
                    return both
    return None


def read_mail(page: Page, row: Row, reading_row: Row | None, *, printed_form: bool) -> tuple[Text, Text]:
    """The address (without the printed @uspot.jp) and its reading.  Read only on a form whose
    code is printed (on a handwritten form both are filled, never read), and sure only when
    the two reads agree (:func:`agree`)."""
    x0, y0, x1, y1 = row.value_box
    # the printed @uspot.jp: a group of ink of its own that reads "uspot"
    end = None
    alone = False
    for a, b in clusters(cell_ink(page, row.value_box, lenient=True), 5.0):
        if b - a < 2 * PT or a < 20 * PT:
            continue
        res, _, _ = read_ocr(page, (x0 + a - 4, y0, x0 + b + 4, y1), lang="eng")
        if re.search(r"usp|spot|pot\.|@", res.text.replace(" ", "").lower()):
            end = x0 + a - 3
            alone = _DOMAIN_ALONE.fullmatch(res.text.replace(" ", "").lower()) is not None
            break
    area = (x0, y0, end if end and end > x0 + 40 * PT else x1, y1)
    state, conf = writing(page, area)
    if end is None or not alone:
        # the printed word was not found on its own: the cell's ink says nothing of emptiness
        state, conf = (STATE_FILLED, conf) if state == STATE_FILLED else (STATE_UNSURE, 0.5)
    local = Text(state, conf, area=area)
    rd = Text(STATE_UNSURE, 0.0)
    if reading_row is not None:
        rstate, rconf = writing(page, reading_row.value_box)
        rd = Text(rstate, rconf, area=reading_row.value_box)
    if state == STATE_FILLED:
        res, _, _ = read_ocr(page, area, lang="eng", whitelist=_LOCAL_WHITELIST, min_px=_DOT_PX)
        text = _strip_domain(res.text.replace(" ", "").lower())
        local.value, local.value_conf = text, res.conf
        local.hand = res.conf < 0.6
        if rd.state == STATE_FILLED and reading_row is not None:
            rres, _, _ = read_ocr(page, reading_row.value_box, lang="jpn", min_px=_DOT_PX)
            rd.value, rd.value_conf = rres.text.replace(" ", ""), rres.conf
            rd.hand = rres.conf < 0.6
            # The address is sure only when its reading spells the same address: two
            # independent reads agreeing is what makes a misread letter (l/1, o/0) impossible.
            both = None
            if printed_form:
                both = agree(text, rd.value)
                if both is None:
                    both = _second_look(page, area, reading_row.value_box, text, rd.value)
            if both is not None:
                local.value, rd.value = both
                local.hand = rd.hand = False
                local.value_conf = max(local.value_conf, 0.99)
                rd.value_conf = max(rd.value_conf, 0.99)
            else:
                local.value_conf = min(local.value_conf, 0.5)
                rd.value_conf = min(rd.value_conf, 0.5)
                if not printed_form:
                    local.hand = rd.hand = True
        else:
            local.value_conf = min(local.value_conf, 0.5)
            local.hand = True if not printed_form else local.hand
    return local, rd
