"""Katakana letter names → ASCII: the フリガナ of the desired @uspot.jp address.

The application form asks for the address and, under it, its reading spelled out in
katakana letter names (ユーエスピーオーティー = ``uspot``, シーハイフンエー = ``c-a``).
:func:`reading_to_ascii` turns such a reading back into ASCII so a check can compare it
with the address (MAIL_ADDRESS_READING_MISMATCH).  Pure; no I/O.
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = ["LETTER_NAMES", "reading_to_ascii"]

# Letter name → character.  Several spellings per character are what people write.
# The first spelling of each character is its canonical one (tests spell addresses with it).
LETTER_NAMES: dict[str, str] = {
    "エー": "a", "ビー": "b", "シー": "c", "ディー": "d", "イー": "e", "エフ": "f",
    "ジー": "g", "エイチ": "h", "エッチ": "h", "アイ": "i", "ジェー": "j", "ジェイ": "j",
    "ケー": "k", "ケイ": "k", "エル": "l", "エム": "m", "エヌ": "n", "オー": "o",
    "ピー": "p", "キュー": "q", "アール": "r", "エス": "s", "ティー": "t", "ユー": "u",
    "ブイ": "v", "ヴィ": "v", "ダブリュー": "w", "ダブリュ": "w", "エックス": "x",
    "ワイ": "y", "ゼット": "z", "ゼッド": "z",
    # Other ways people write the same letters.
    "エイ": "a", "スィー": "c", "ディ": "d", "デー": "d", "ジェ": "j", "オウ": "o",
    "ティ": "t", "テー": "t", "ヴィー": "v", "ヴイ": "v", "ヴイー": "v", "ブイー": "v",
    "ダブルユー": "w", "ダブリュウ": "w", "ダブルユ": "w", "エクス": "x", "ズィー": "z",
    "ハイフン": "-", "ドット": ".", "ピリオド": ".", "アンダーバー": "_", "アンダースコア": "_",
    "ゼロ": "0", "レイ": "0", "イチ": "1", "ワン": "1", "ニ": "2", "ツー": "2",
    "サン": "3", "スリー": "3", "ヨン": "4", "フォー": "4", "ゴ": "5", "ファイブ": "5",
    "ロク": "6", "シックス": "6", "ナナ": "7", "セブン": "7", "ハチ": "8", "エイト": "8",
    "キュウ": "9", "ナイン": "9",
}

# Spaces and separators people put between letter names (NFKC turns U+3000 into a space).
_SEPARATORS = re.compile(r"[\s・･、,/]+")
# Dash-like characters typed in place of the long vowel mark ー (エ－ for エー).
_LONG_VOWEL_LOOKALIKES = str.maketrans({c: "ー" for c in "-‐‑‒–—―−－~〜～"})
_HIRAGANA_TO_KATAKANA = {code: code + 0x60 for code in range(0x3041, 0x3097)}
_MAX_READING = 400  # an address reading is short; bounds the work and the recursion depth
_NAMES_LONGEST_FIRST: tuple[str, ...] = tuple(sorted(LETTER_NAMES, key=len, reverse=True))


def reading_to_ascii(reading: str) -> str | None:
    """Spell a katakana reading as ASCII, or return None when it cannot be read.

    Half-width katakana, hiragana, spaces and ・ between names are tolerated.  The longest
    letter name is tried first at each position, backtracking when the rest cannot be
    read, so e.g. エイト reads as ``8`` rather than failing on エイ.  An empty reading
    gives None (there is nothing to compare).

    >>> reading_to_ascii("シーハイフンエーオーワイエー")
    'c-aoya'
    """
    text = unicodedata.normalize("NFKC", reading).translate(_HIRAGANA_TO_KATAKANA)
    text = _SEPARATORS.sub("", text).translate(_LONG_VOWEL_LOOKALIKES)
    if not text or len(text) > _MAX_READING:
        return None
    return _spell(text)


@functools.lru_cache(maxsize=1024)
def _spell(text: str) -> str | None:
    # Memoised backtracking over positions: tiny inputs, and at most
    # len(text) * len(LETTER_NAMES) steps even for adversarial ones.
    @functools.cache
    def from_pos(pos: int) -> str | None:
        if pos == len(text):
            return ""
        for name in _NAMES_LONGEST_FIRST:
            if text.startswith(name, pos):
                rest = from_pos(pos + len(name))
                if rest is not None:
                    return LETTER_NAMES[name] + rest
        return None

    return from_pos(0)
