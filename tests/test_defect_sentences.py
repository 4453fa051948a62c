"""templates/_defects.j2 explains every defect the bot knows (DESIGN.md's table, bot/domain/vocab.py's
DEFECTS) in its own Japanese sentence: none falls through to the general 「記載内容に不備が
あります。」, and the three role / serial / change defects say what the branch must do, as the
manual says it (SENDER_NOT_PERMITTED for a ルーター交換依頼 names テクニカルサポート課)."""

from __future__ import annotations

import pytest

from bot.checks.base import Defect
from bot.domain import vocab
from bot.templating import BUILTIN_DIR, make_environment

FALLBACK = "記載内容に不備があります。"


def explain(code: str, detail: dict[str, str] | None = None, kind: str = "") -> str:
    env = make_environment(BUILTIN_DIR)
    template = env.from_string('{% from "_defects.j2" import explain with context %}{{ explain(d) }}')
    return template.render(d=Defect(code, detail or {}), kind_label=kind).strip()


@pytest.mark.parametrize("code", sorted(vocab.DEFECTS))
def test_every_defect_has_its_own_sentence(code: str) -> None:
    for kind in ("", "器材発注依頼"):
        text = explain(code, kind=kind)
        assert text and text != FALLBACK, (code, kind)
        assert "不明" not in text and code not in text


@pytest.mark.parametrize(("kind", "words"), [
    ("ルーター交換依頼", "必ずエンジニアからテクニカルサポート課へ依頼してください"),
    ("登録通知書発送依頼", "サポートセンター（CS）からのみ"),
    ("リンク品使用連絡", "エンジニアまたはテクニカルサポート課からのみ"),
    ("", "担当部署からのみ"),
])
def test_sender_not_permitted_names_who_must_send(kind: str, words: str) -> None:
    assert words in explain("SENDER_NOT_PERMITTED", kind=kind)


def test_sender_not_permitted_names_a_role_given_in_the_detail() -> None:
    assert "この依頼はテクニカルサポート課からのみ" in explain("SENDER_NOT_PERMITTED", {"role": "テクニカルサポート課"})


def test_serial_invalid_quotes_the_serial_and_the_rule() -> None:
    text = explain("SERIAL_INVALID", {"serial": "AB12", "label": "新シリアル"}, "リンク品使用連絡")
    assert "「AB12」（新シリアル）" in text and "12桁" in text and "§VIII" in text
    assert "「" not in explain("SERIAL_INVALID")[:8]  # without a serial, no empty quotes


def test_change_content_missing_says_what_to_write() -> None:
    assert "新住所" in explain("CHANGE_CONTENT_MISSING", kind="顧客情報変更")
    assert "変更内容 : " in explain("CHANGE_CONTENT_MISSING", kind="契約変更")


def _reject(*codes: str) -> str:
    env = make_environment(BUILTIN_DIR)
    return env.get_template("reject.txt.j2").render(
        sender_name="山田", kind_label="ルーター交換依頼", original_subject="USEN SPOT ルーター交換依頼_123456789",
        customer_code="123456789", received_at="2026/12/07 10:00", defects_list=[Defect(c, {}) for c in codes],
        defect_names=dict(vocab.DEFECTS), show_subjects=False, prefixes=[], remark="")


def test_a_sender_without_the_role_is_not_asked_to_resend() -> None:
    """SENDER_NOT_PERMITTED: the same sender resending the same subject would be sent back again;
    the reply tells them to pass it to the department that sends it (before: 「同じ件名で再送」)."""
    alone = _reject("SENDER_NOT_PERMITTED")
    assert "同じ件名で再送" not in alone and "再送はせず、担当部署へ依頼してください" in alone
    assert "下記の不備も修正" not in alone
    both = _reject("SENDER_NOT_PERMITTED", "SERIAL_INVALID")
    assert "再送はせず" in both and "下記の不備も修正" in both
    assert "同じ件名で再送してください" in _reject("SERIAL_INVALID")
    for text in (alone, both, _reject("SERIAL_INVALID")):  # the instruction, then a blank line, then the mail
        assert "。\n\n  件名" in text
