"""HTML → text: the visible text of an HTML-only body, blocks and ``<br>`` as line breaks.

Not :class:`html.parser.HTMLParser`: in the CPython we run it is quadratic on unclosed
constructs (160 KB of ``<a<a<a…`` takes 17 s, 320 KB of ``<!--<!--…`` 42 s), because on
each ``<`` it cannot finish it rescans the rest of the input.  We need little of HTML: tags
by name, comments and declarations skipped, ``<script>``/``<style>`` contents skipped,
entities decoded.  One regular expression whose alternatives cannot overlap does that in a
single left-to-right pass.
"""

from __future__ import annotations

import html
import re

__all__ = ["html_to_text"]

_BLOCK_TAGS = frozenset(
    {
        "p", "div", "tr", "li", "ul", "ol", "dl", "dt", "dd", "table", "thead", "tbody",
        "tfoot", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr", "section",
        "article", "header", "footer", "address", "center", "form", "fieldset", "caption",
    }
)
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template", "xml"})
# Raw text elements: their content is not markup ("<" inside a script is just text).
_RAW_TEXT_TAGS = frozenset({"script", "style"})
_CELL_TAGS = frozenset({"td", "th"})
_SPACES = re.compile(r"[ \t\f\v\r\n\u200b]+")  # not U+00A0: &nbsp; is meant (kept till the end)

# Each alternative starts differently and runs to a fixed end or to the end of the input, so
# the scanner never comes back over the same text: linear time on any input.
_MARKUP = re.compile(
    r"<!--.*?(?:--!?>|\Z)"  # comment (conditional comments included); unclosed: to the end
    r"|<!\[CDATA\[.*?(?:\]\]>|\Z)"
    r"|<(?:[!?]|/(?![A-Za-z]))[^>]*(?:>|\Z)"  # <!DOCTYPE>, <![endif]>, <?xml?>, </ >
    r"|<(/?)([A-Za-z][^\s/>]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>?",  # a tag and its attributes
    re.S,
)


class _Text:
    """Collects visible text: blocks and <br> become line breaks."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.skip = 0
        self.pre = 0

    def newline(self) -> None:
        while self.parts and self.parts[-1] and not self.parts[-1].strip(" "):
            self.parts.pop()  # inline whitespace before a block boundary
        if self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")

    def start(self, tag: str, *, self_closing: bool) -> None:
        if tag in _SKIP_TAGS:
            if not self_closing:
                self.skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self.newline()
            if tag == "pre" and not self_closing:
                self.pre += 1
        elif tag in _CELL_TAGS and not self_closing:
            self.parts.append(" ")

    def end(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS:
            self.newline()
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def data(self, text: str) -> None:
        if self.skip or not text:
            return
        text = html.unescape(text)
        self.parts.append(text if self.pre else _SPACES.sub(" ", text))


def html_to_text(markup: str) -> str:
    """HTML → clean plain text: no tags, entities decoded, <br>/<p>/<div> → line breaks.

    Lines are stripped, runs of blank lines become one.  Never raises; linear time.
    """
    out = _Text()
    pos = 0
    end = len(markup)
    while pos < end:
        match = _MARKUP.search(markup, pos)
        if match is None:
            out.data(markup[pos:])
            break
        out.data(markup[pos:match.start()])
        pos = match.end()
        name = match.group(2)
        if name is None:  # comment, declaration, processing instruction
            continue
        tag = name.lower()
        if match.group(1):
            out.end(tag)
            continue
        out.start(tag, self_closing=(match.group(3) or "").rstrip().endswith("/"))
        if tag in _RAW_TEXT_TAGS and not (match.group(3) or "").rstrip().endswith("/"):
            # Everything up to </script> is text of the script: skip it without parsing.
            close = re.compile(rf"</{tag}\s*>", re.I).search(markup, pos)
            pos = close.end() if close else end
            out.end(tag)
    text = "".join(out.parts)
    lines = [line.replace("\u00a0", " ").strip(" \t") for line in text.replace("\r", "").split("\n")]
    kept: list[str] = []
    for line in lines:
        if not line and (not kept or not kept[-1]):
            continue
        kept.append(line)
    return "\n".join(kept).strip("\n")
