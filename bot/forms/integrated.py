"""The 統合申込書 (integrated application form, manual §I) in a text layer.

Besides the dedicated ご加入申込書, branches send the company's multi-service form: the same
customer blocks, and instead of the "USEN SPOT Plus" checkbox a table of services
(サービス名称 | コース | 数量 | バンド | 税別単価), each row with a □ before the service's name.
USEN SPOT is chosen by ticking its row; SPOT Plus by writing ``Plus`` in that row's コース cell
("USEN SPOT Plus の場合は Plusと記載").  USEN SPOT Tourist is another service.

The form is recognised by the table's LABELS: a header line holding サービス名称 and コース, and
a row whose service is USEN SPOT; never by the title (branches retitle their copies) and never
by coordinates.  A services table without a USEN SPOT row is another company's (or another
service's) form: :func:`typed_services` says so and the caller reads the PDF as no form at all.

The vocabulary here (service names, the Plus words) is shared with the scan reader
(:mod:`bot.forms.integrated_scan`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.forms.normalise import fold
from bot.forms.text import Line

FORM_DEDICATED = "dedicated"
FORM_INTEGRATED = "integrated"

HEADER = "サービス名称"
COURSE = "コース"
OPTIONS_HEADING = "お得なオプションサービス"

# The services the form prints, folded (NFKC, casefold, no spaces), in printed order.  Every one
# is listed, not only USEN SPOT: a row is told by the name it matches BEST, so the Tourist row
# ("USEN SPOT Tourist …") is never taken for the USEN SPOT row.
SERVICES: tuple[tuple[str, str], ...] = (
    ("cable", "ケーブル/sp/sp-i/mpx-1"),
    ("ez_messe", "ez-messeii"),
    ("otoraku", "otoraku"),
    ("register", "usenregister"),
    ("register_handy", "usenregisterhandy"),
    ("register_mf", "usenregistermfクラウド会計"),
    ("register_display", "usenregisterカスタマーディスプレイ"),
    ("hikari", "usen光にねん割"),
    ("spot", "usenspot"),
    ("tourist", "usenspottourist(外国人観光客向け1/ssid)"),
    ("flets", "nttフレッツ回線単品"),
    ("card", "クレジットカード端末"),
    ("rescue", "usenレスキュー24"),
    ("benefit", "usenベネフィット"),
    ("support", "usen安心サポート"),
)
SPOT = "spot"
TOURIST = "tourist"

# What says SPOT Plus in the コース cell, folded: Plus / plus / ＰＬＵＳ / プラス.
_PLUS_WORD = re.compile(r"plus|プラス")
_CHOSEN = re.compile(r"(?:[■☑☒✓✔●◉レ✅◼⬛]|[\[(]\s*[x✓✔レ■●]\s*[\])])$")
_OPEN = re.compile(r"(?:[□☐○◯◻⬜]|[\[(]\s*[\])])$")
_LEAD_MARK = re.compile(r"^(?:(?P<on>[■☑☒✓✔●◉レ✅◼⬛]|[\[(][x✓✔レ■●][\])])|(?P<off>[□☐○◯◻⬜]|[\[(][\])]))")
_NOISE = re.compile(r"[|｜\[\]_~'\"`.,:;（）()【】・\s]")


def match_service(text: str) -> tuple[str | None, float, float]:
    """(key, score, margin over the next best) of a service name as read (OCR or text layer).

    Plain similarity of the whole name, no substring bonus: "USEN SPOT" inside the Tourist
    row's longer name does not make that row the SPOT row."""
    folded = _NOISE.sub("", fold(text))
    if not folded:
        return None, 0.0, 0.0
    scores = sorted(((difflib.SequenceMatcher(None, folded, _NOISE.sub("", name)).ratio(), key)
                     for key, name in SERVICES), reverse=True)
    (best, key), (second, _) = scores[0], scores[1]
    return key, best, best - second


def plus_written(text: str | None) -> bool:
    """The SPOT row's コース cell says Plus: the word written (Plus, ＰＬＵＳ, プラス), or a printed
    Plus option carrying a chosen mark.  A printed option with an open mark (□Plus) is not."""
    if not text:
        return False
    folded = fold(text)
    for m in _PLUS_WORD.finditer(folded):
        before = folded[: m.start()]
        if _OPEN.search(before) and not _CHOSEN.search(before):
            continue
        return True
    return False


def is_header(text: str) -> bool:
    """A line (or a table's first row) that holds the services table's column labels."""
    folded = fold(text)
    return HEADER in folded and COURSE in folded


@dataclass(frozen=True)
class ServiceRow:
    key: str | None  # a SERVICES key, None for a row whose name is not the form's
    chosen: bool  # a chosen mark before the name
    course: str  # what follows the name on the row (the コース cell and the other columns)


@dataclass(frozen=True)
class TypedServices:
    """The services table of a typed 統合申込書, and the text lines without it."""

    rest: tuple[Line, ...]
    rows: tuple[ServiceRow, ...]

    @property
    def spot_row(self) -> ServiceRow | None:
        return next((r for r in self.rows if r.key == SPOT), None)

    @property
    def spot_selected(self) -> bool | None:
        """None: no USEN SPOT row (not our form)."""
        row = self.spot_row
        return None if row is None else row.chosen

    @property
    def plus(self) -> bool:
        row = self.spot_row
        return row is not None and plus_written(row.course)

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(r.key for r in self.rows if r.chosen and r.key)


def _row(folded: str) -> ServiceRow | None:
    """A line of the table: a mark, then a service name, then its cells (or a name alone)."""
    m = _LEAD_MARK.match(folded)
    body = folded[m.end():] if m else folded
    chosen = bool(m and m.group("on"))
    # the longest printed name the line starts with (Tourist before SPOT)
    for key, name in sorted(SERVICES, key=lambda kn: -len(kn[1])):
        plain = _NOISE.sub("", name)
        if _NOISE.sub("", body).startswith(plain):
            # the rest of the line after the name, in folded text
            i = n = 0
            while i < len(body) and n < len(plain):
                if not _NOISE.fullmatch(body[i]):
                    n += 1
                i += 1
            return ServiceRow(key, chosen, body[i:])
    if m:  # a marked row whose name is not one of ours (a blank row, a written-in service)
        return ServiceRow(None, chosen, body)
    return None


def typed_services(lines: Sequence[Line]) -> TypedServices | None:
    """The services table of a text layer, or None when there is no table header.

    The table's lines (header, service rows, the options heading, a block title right above
    the header, the Plus note) are taken out of ``rest``: the typed reader must not read a
    service row as the continuation of the label above it."""
    start = next((i for i, line in enumerate(lines) if is_header(line.text)), None)
    if start is None:
        return None
    drop = {start}
    if start > 0:
        above = fold(lines[start - 1].text)
        if "サービス" in above and len(above) <= 14 and lines[start - 1].page == lines[start].page:
            drop.add(start - 1)  # 【ご利用サービス】 / 月額利用料 printed over the table
    rows: list[ServiceRow] = []
    for j in range(start + 1, len(lines)):
        line = lines[j]
        folded = fold(line.text)
        if line.page != lines[start].page:
            break
        if OPTIONS_HEADING in folded or folded in ("月額利用料", "オプション"):
            drop.add(j)
            continue
        row = _row(folded)
        if row is None:
            break
        rows.append(row)
        drop.add(j)
    for j, line in enumerate(lines):
        folded = fold(line.text)
        if "plus" in folded and "記載" in folded and "の場合" in folded:
            drop.add(j)  # the note "USEN SPOT Plus の場合は Plusと記載"
    rest = tuple(line for j, line in enumerate(lines) if j not in drop)
    return TypedServices(rest=rest, rows=tuple(rows))
