"""An audit entry's detail as lines a person reads (監査ログ, メール詳細's 操作の記録).

The detail is stored as the action wrote it (keys, codes, numbers: ``{"template":
"reject.txt.j2", "version": 3}``); this turns it into 「項目　値」 lines in the office's words:
a template by its name, a version as 「#3」, an attachment as 「1番目」, a size in KB, a
person's typed values one per line, a decision or a defect by its Japanese name (the rest
through :func:`bot.domain.vocab.value_text`). Never a Python repr.

Each line is ``(label, text, is_data)``: `is_data` marks what a mail or a person wrote (an
address, a subject, a note), which the page shows as it is (``translate="no"``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.domain import vocab
from bot.templating import store as template_store
from bot.web.queries import HOLD_REASONS

Line = tuple[str, str, bool]

# Keys whose value is what a person or a mail wrote, shown as it is.
_DATA_KEYS = frozenset({"note", "remark", "subject", "filename", "to", "q", "branch", "code", "display_name"})
# Keys of the CSV export (bot/web/views/exports.py) and of filters, and their labels.
# The rest (code, template, version, …) are the office's detail words (vocab.DETAIL_KEYS).
_LABELS: Mapping[str, str] = {
    "list": "一覧", "rows": "書き出した件数", "matched": "条件に合った件数", "day": "日付", "q": "キーワード",
    "branch": "支店", "hold_reason": "理由の分類",
}


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _size(value: Any) -> str:
    n = _number(value)
    if n is None:
        return vocab.value_text(value)
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} バイト"


def _hash(value: Any) -> str:
    n = _number(value)
    return f"#{n}" if n is not None else vocab.value_text(value)


def _count(value: Any) -> str:
    n = _number(value)
    return f"{n:,}件" if n is not None else vocab.value_text(value)


def _template(value: Any) -> str:
    name = str(value)
    try:
        return template_store.label(template_store.check_name(name))
    except template_store.TemplateStoreError:
        return "（削除されたテンプレート）"


def _attachment(value: Any) -> str:
    n = _number(value)
    return f"{n + 1}番目" if n is not None else vocab.value_text(value)


_TEXTS: Mapping[str, Callable[[Any], str]] = {
    "bytes": _size, "version": _hash, "reverted_from": _hash, "batch": _hash, "outbox_id": _hash,
    "vendor_row": _hash, "rows": _count, "matched": _count, "template": _template, "attachment": _attachment,
    "hold_reason": lambda v: HOLD_REASONS.get(str(v), "その他"),
    "before": lambda v: vocab.value_text(v, "status"),
}


def _label(key: str) -> str:
    return _LABELS.get(key) or vocab.detail_key(key)


def lines(detail: Mapping[str, Any] | None) -> tuple[Line, ...]:
    """`detail` as (label, text, is_data) lines; a mapping inside it (typed values) one line
    per value, labelled 「入力した値：店舗名」."""
    out: list[Line] = []
    for raw_key, value in (detail or {}).items():
        key = str(raw_key)
        if isinstance(value, Mapping) and value:
            for sub, inner in value.items():
                text = vocab.value_text(inner, str(sub))
                out.append((f"{_label(key)}：{vocab.detail_key(sub)}", text, isinstance(inner, str) and text == inner))
            continue
        if key in _TEXTS:
            out.append((_label(key), _TEXTS[key](value), False))
        elif key in _DATA_KEYS:
            text = "、".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
            out.append((_label(key), text or "—", bool(text)))
        else:
            text = vocab.value_text(value, key)
            out.append((_label(key), text, isinstance(value, str) and text == value))
    return tuple(out)
