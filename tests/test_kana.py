"""bot.domain.kana: katakana letter names of the desired @uspot.jp address → ASCII."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.kana import LETTER_NAMES, reading_to_ascii


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        ("ユーエスピーオーティー", "uspot"),
        ("シーハイフンエーオーワイエー", "c-aoya"),
        ("ユーエスピーオーティージェービー", "uspotjb"),
        ("エイチエッチ", "hh"),
        ("ジェージェイケーケイ", "jjkk"),
        ("ブイヴィダブリューダブリュ", "vvww"),
        ("ゼットゼッド", "zz"),
        ("ドットピリオドアンダーバーアンダースコアハイフン", "..__-"),
        ("ゼロレイイチワンニツーサンスリーヨンフォーゴファイブロクシックスナナセブンハチエイトキュウナイン",
         "00112233445566778899"),
        ("キューキュウ", "q9"),
        ("エイトエイチ", "8h"),
        # variants people write for the same letters
        ("ヴィーヴイヴイーブイー", "vvvv"),
        ("ダブルユーダブリュウ", "ww"),
        ("ディティデーテー", "dtdt"),
        ("エイビーシー", "abc"),
        ("エイエイトエイチ", "a8h"),
        ("ジェオウエクスズィースィー", "joxzc"),
        ("ヴィーダブルユーハイフンディエイ", "vw-da"),
    ],
)
def test_letter_names_spell_the_address(reading: str, expected: str) -> None:
    assert reading_to_ascii(reading) == expected


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        ("ｼｰﾊｲﾌﾝｴｰｵｰﾜｲｴｰ", "c-aoya"),  # half-width katakana (NFKC)
        ("ユー エス\u3000ピー・オー ティー", "uspot"),  # spaces, U+3000 and ・ between names
        ("エ－ビ－シ‐", "abc"),  # dash-like characters typed for the long vowel mark
        ("ゆーえすぴーおーてぃー", "uspot"),  # hiragana
    ],
)
def test_tolerated_spellings(reading: str, expected: str) -> None:
    assert reading_to_ascii(reading) == expected


@pytest.mark.parametrize("reading", ["", "   ", "ホゲ", "ユーエスピーオーティーX", "本田", "ユ" * 500])
def test_unreadable_gives_none(reading: str) -> None:
    assert reading_to_ascii(reading) is None


# One canonical spelling per character: the first name in the table.
_CANONICAL: dict[str, str] = {}
for _name, _char in LETTER_NAMES.items():
    _CANONICAL.setdefault(_char, _name)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=sorted(_CANONICAL), min_size=1, max_size=24))
def test_round_trip_of_any_address(local: str) -> None:
    """Given any address spelled in letter names, when read back, then the address returns."""
    reading = "".join(_CANONICAL[c] for c in local)
    assert reading_to_ascii(reading) == local
