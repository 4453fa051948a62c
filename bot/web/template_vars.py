"""The variables a mail template may use, listed beside the editor: derived from the sample
data the editor previews with (:func:`bot.templating.samples.sample_for`), which is the context
the bot itself passes (each owner keeps its sample in step with its real context).

Each variable: its name as the template writes it, what kind of value it is (文字列, 一覧 …),
a short example from the sample, and for a list or a record the names inside it
(``{% for d in defects_list %}{{ d.code }}``). A partial (``_defects.j2``) gets the variables
of the mail it is previewed through, and the macro's own argument.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.templating import store
from bot.templating.samples import sample_for

MAX_EXAMPLE = 40
MAX_INNER = 16
MAX_KEYS = 6  # a mapping's keys shown (a table of 31 defect names needs only a taste)


@dataclass(frozen=True)
class Variable:
    name: str  # as the template writes it
    kind: str  # 文字列, 数値, はい・いいえ, 一覧（3件）, 項目のまとまり …
    example: str  # from the sample ("" for a list or a record)
    inner: tuple[str, ...] = ()  # the names inside a record, or inside each item of a list
    inner_label: str = ""  # 「各項目の中身」 or 「中身」
    more: int = 0  # names inside left out of `inner`


@dataclass(frozen=True)
class Variables:
    source: str  # the mail whose sample they come from
    items: tuple[Variable, ...]
    note: str = ""  # for a partial: how the macro is called


def _fields(value: Any) -> tuple[str, ...]:
    if isinstance(value, Mapping):
        return tuple(str(k) for k in list(value)[:MAX_INNER])
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple(f.name for f in dataclasses.fields(value) if not f.name.startswith("_"))[:MAX_INNER]
    return ()


def _short(value: Any) -> str:
    text = str(value).replace("\n", " ")
    return text if len(text) <= MAX_EXAMPLE else text[:MAX_EXAMPLE - 1] + "…"


def describe(name: str, value: Any) -> Variable:
    """One variable: its kind, an example and what is inside it."""
    if isinstance(value, bool):
        return Variable(name, "はい・いいえ", "はい" if value else "いいえ")
    if isinstance(value, (int, float)):
        return Variable(name, "数値", _short(value))
    if isinstance(value, str):
        return Variable(name, "文字列", _short(value))
    if isinstance(value, (dt.date, dt.datetime)):
        return Variable(name, "日付", _short(value))
    if isinstance(value, Mapping):
        keys = tuple(str(k) for k in list(value)[:MAX_KEYS])
        return Variable(name, f"対応表（{len(value)}項目）", "", keys, "キー", len(value) - len(keys))
    if isinstance(value, Sequence):
        first = value[0] if value else None
        inner = _fields(first) if first is not None else ()
        example = _short("、".join(map(str, value[:3]))) if value and not inner else ""
        return Variable(name, f"一覧（サンプルでは{len(value)}件）", example, inner, "各項目の中身" if inner else "")
    if value is None:
        return Variable(name, "値なし（サンプルでは空）", "")
    return Variable(name, "項目のまとまり", "", _fields(value), "中身")


def variables(name: str, admin_dir: Any = None) -> Variables | None:
    """The variables of template `name` (None when no sample data is registered for it)."""
    via = name
    note = ""
    if store.is_partial(name):
        via = store.PREVIEW_VIA.get(name, "")
        if not via:
            return None
        note = "この部品のマクロは、読み込んだメールの変数と、呼び出しで渡される1件の値（例：不備1件 d。中身は code と detail）を使えます。"
    sample = sample_for(via)
    if sample is None:
        return None
    items = tuple(describe(str(k), v) for k, v in sorted(sample.items(), key=lambda kv: str(kv[0])))
    return Variables(via, items, note)
