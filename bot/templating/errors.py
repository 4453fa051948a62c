"""A template's error as the admin reads it in the editor: in Japanese, with the file and its
line, and the line itself when it is in the text being edited.

:mod:`bot.templating.store` keeps Jinja's own message (``UndefinedError: 'x' is undefined``):
``bot templates check`` prints it and the tests of the store read it. Here it becomes a
sentence; the names it is about (a variable, a tag, a filter) stay as they are written in the
template, marked as code (``translate="no"`` on the page), so the sentence says which one.
Jinja's original message rides in the item's ``title`` for whoever wants it.

    shown(problem, body) → Shown(line, in_draft, parts=((text, is_code), …), original)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.templating import store

Part = tuple[str, bool]  # (text, is_code)


@dataclass(frozen=True)
class Shown:
    line: int | None
    in_draft: bool
    parts: tuple[Part, ...]
    original: str

    @property
    def text(self) -> str:
        """The whole sentence as plain text."""
        return "".join(text for text, _code in self.parts)


def _c(text: str) -> Part:
    return (text, True)


def _t(text: str) -> Part:
    return (text, False)


_TAG_NAMES = {"if": "if", "for": "for", "macro": "macro", "block": "block", "call": "call", "filter": "filter",
              "set": "set", "raw": "raw", "with": "with", "autoescape": "autoescape", "trans": "trans"}


def _unclosed(m: re.Match[str]) -> list[Part]:
    block = m.group("block")
    opening = "{% " + _TAG_NAMES.get(block, block) + " %}"
    closing = "{% end" + block + " %}"
    return [_c(opening), _t(" が閉じられていません。対応する "), _c(closing), _t(" を書いてください。")]


def _unknown_tag(m: re.Match[str]) -> list[Part]:
    tag = m.group("tag")
    if tag.startswith("end"):
        return [_c("{% " + tag + " %}"), _t(" に対応する開始タグがありません（開始タグが消えているか、閉じる順序が違います）。")]
    return [_c("{% " + tag + " %}"), _t(" というタグはありません。綴りを確かめてください。")]


def _unexpected(m: re.Match[str]) -> list[Part]:
    return [_t("ここに "), _c(m.group("char")), _t(" は書けません。"), _c("{{ … }}"), _t(" や "), _c("{% … %}"),
            _t(" の括弧の対応を確かめてください。")]


def _extra_word(m: re.Match[str]) -> list[Part]:
    where = "{{ … }}" if "print" in m.group("end") else "{% … %}"
    return [_c(where), _t(" の中に余分な語 "), _c(m.group("got")), _t(" があります（閉じ括弧の書き忘れ、または演算子の抜けです）。")]


def _empty(m: re.Match[str]) -> list[Part]:
    where = "{{ … }}" if "print" in m.group("got") else "{% … %}"
    return [_c(where), _t(" の中に、必要な式（変数名など）が書かれていません。")]


def _not_closed(m: re.Match[str]) -> list[Part]:
    opening, closing = ("{{", "}}") if "print" in m.group("got") else ("{%", "%}")
    return [_c(opening), _t(" が閉じられていません（"), _c(closing), _t(" がありません）。")]


def _undefined(m: re.Match[str]) -> list[Part]:
    return [_t("変数 "), _c(m.group("name")), _t(" はありません。右の「使える変数」にある名前を使ってください（大文字・小文字も区別されます）。")]


def _no_attribute(m: re.Match[str]) -> list[Part]:
    owner, attr = m.group("owner"), m.group("attr")
    if "TemplateModule" in owner:
        return [_t("読み込んだ部品に "), _c(attr), _t(" がありません。このメールが使うマクロを部品から消していないか確かめてください。")]
    return [_t("この値には項目 "), _c(attr), _t(" がありません。右の「使える変数」で項目名を確かめてください。")]


def _no_element(m: re.Match[str]) -> list[Part]:
    return [_t("一覧に "), _c(m.group("index")), _t(" 番目の要素がありません（番号は 0 から数えます）。")]


def _unsafe(m: re.Match[str]) -> list[Part]:
    return [_c(m.group("attr")), _t(" は安全のため使えません（テンプレートからはボットの内部に触れられません）。")]


def _no_filter(m: re.Match[str]) -> list[Part]:
    return [_t("フィルター "), _c(m.group("name")), _t(" はありません。綴りを確かめてください。")]


def _no_test(m: re.Match[str]) -> list[Part]:
    return [_t("判定 "), _c("is " + m.group("name")), _t(" はありません。綴りを確かめてください。")]


def _bad_char(m: re.Match[str]) -> list[Part]:
    return [_t("使えない文字 "), _c(m.group("char")), _t(" があります。")]


# Jinja's messages (after bot.templating.describe_error: "ErrorType: message"), first match wins.
_RULES: Sequence[tuple[re.Pattern[str], Callable[[re.Match[str]], list[Part]]]] = (
    (re.compile(r"Encountered unknown tag '(?P<tag>[^']+)'"), _unknown_tag),
    (re.compile(r"Unexpected end of template\..*innermost block that needs to be closed is '(?P<block>\w+)'", re.S),
     _unclosed),
    (re.compile(r"unexpected end of template, expected '(?P<got>end of (?:print statement|statement block))'"), _not_closed),
    (re.compile(r"unexpected '(?P<char>[^']+)'"), _unexpected),
    (re.compile(r"expected token '(?P<end>end of (?:print statement|statement block))', got '(?P<got>[^']*)'"),
     _extra_word),
    (re.compile(r"Expected an expression, got '(?P<got>[^']+)'"), _empty),
    (re.compile(r"unexpected char '(?P<char>[^']+)'"), _bad_char),
    (re.compile(r"UndefinedError: '(?P<name>[^']+)' is undefined"), _undefined),
    (re.compile(r"UndefinedError: '?(?P<owner>[^']+?)'? has no attribute '(?P<attr>[^']+)'"), _no_attribute),
    (re.compile(r"UndefinedError: '?[^']+?'? has no element (?P<index>\S+)"), _no_element),
    (re.compile(r"SecurityError: access to attribute '(?P<attr>[^']+)'"), _unsafe),
    (re.compile(r"No filter named '(?P<name>[^']+)'"), _no_filter),
    (re.compile(r"No test named '(?P<name>[^']+)'"), _no_test),
    (re.compile(r"^ZeroDivisionError"), lambda m: [_t("0 で割っています。")]),
    (re.compile(r"^TypeError"), lambda m: [_t("値の種類が合いません（文字列と数値を足す、一覧を呼び出す など）。")]),
    (re.compile(r"^SecurityError"), lambda m: [_t("安全のため、テンプレートからはこの操作ができません。")]),
    (re.compile(r"^TemplateSyntaxError"), lambda m: [_t("書式に誤りがあります。"), _c("{{ … }}"), _t(" や "),
                                                      _c("{% … %}"), _t(" の書き方を確かめてください。")]),
)
_EXCEPTION_NAME = re.compile(r"^[A-Z]\w*(?:Error|Exception|Warning): ")
_CODE_IN_TEXT = re.compile(r"(\{%.*?%\}|\{\{.*?\}\})")


def sentence(message: str) -> tuple[Part, ...]:
    """Jinja's message as a Japanese sentence (its names as code)."""
    for pattern, build in _RULES:
        m = pattern.search(message)
        if m:
            return tuple(build(m))
    if _EXCEPTION_NAME.match(message):
        return (_t("テンプレートを表示できませんでした。直前に変えた箇所を確かめてください。"),)
    # The store's own messages are Japanese already; what they quote of a template is code.
    return tuple((piece, bool(_CODE_IN_TEXT.fullmatch(piece))) for piece in _CODE_IN_TEXT.split(message) if piece)


def _place(problem: store.Problem) -> list[Part]:
    name, paren, origin = problem.file.partition("（")
    parts = [_c(name)] + ([_t(paren + origin)] if paren else [])
    parts.append(_t(f" {problem.line}行目：" if problem.line else "："))
    return parts


def shown(problem: store.Problem, body: str = "") -> Shown:
    """`problem` for the page; `body`: the text being edited (its line is quoted for an error in it)."""
    parts = _place(problem) + list(sentence(problem.message))
    if problem.in_draft and problem.line and body:
        lines = store.normalise(body).split("\n")
        if 0 < problem.line <= len(lines) and lines[problem.line - 1].strip():
            parts += [_t("　該当行："), _c(lines[problem.line - 1].strip()[:200])]
    return Shown(problem.line, problem.in_draft, tuple(parts), str(problem))


def shown_all(problems: Sequence[store.Problem], body: str = "") -> list[Shown]:
    return [shown(p, body) for p in problems]
