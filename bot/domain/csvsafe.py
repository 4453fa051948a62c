"""Cells a spreadsheet would run as a formula (CSV injection), neutralised.

Excel and LibreOffice take a cell that starts with ``=`` ``+`` ``-`` ``@`` (or a tab or line
break before one) as a formula, quoted or not. Such a cell gets a leading ``'``, which both show
as text and drop from the value.

``+`` and ``-`` are special: branch data legitimately starts with them (an SSID such as
``+kitsune_Wi-Fi``, a phone number ``+81 3 …``). They are neutralised only when what follows
could do more than arithmetic or a name lookup: a function call or DDE (``(``, ``|``), a
reference into another sheet or file (``!``, ``[``), a string or a comparison (``"``, ``=``,
``@``, ``;``). So the vendor sees such values exactly as written; it opens the CSV with
データ → テキストまたはCSVから and every column as 文字列 (docs/reliability.md), where nothing is
evaluated at all.
"""

from __future__ import annotations

import re

_ALWAYS = ("=", "@", "\t", "\r", "\n")
_SIGNED_ACTIVE = re.compile(r"[()|!\[\]\"=@;]")


def needs_guard(cell: str) -> bool:
    head = cell.lstrip(" ")
    if not head:
        return False
    if head.startswith(_ALWAYS):
        return True
    return head[0] in "+-" and bool(_SIGNED_ACTIVE.search(head))


def neutralise(cell: str) -> str:
    """The cell as a spreadsheet shows it as text: a leading ``'`` when it would be a formula."""
    return "'" + cell if needs_guard(cell) else cell
