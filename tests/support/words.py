"""What a page must not show a person (issue 21 point 1), as one function over a page's visible
text: raw codes, snake_case keys, Python's True/False/None and repr brackets, backticks,
commands (``bot …``), config sections (``[scans]``) and English sentences. (No tests here.)

What a mail or a customer brought (a subject, an address, a shop name, the body, a template's
source) is the office's data, not the console's words: pages mark it ``translate="no"`` and
the browser test leaves it out of the text it checks.
"""

from __future__ import annotations

import re

RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("raw code", re.compile(r"\b[A-Z][A-Z_]{4,}\b")),
    ("snake_case", re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")),
    ("Python value", re.compile(r"\b(?:True|False|None)\b")),
    ("repr bracket", re.compile(r"[\[{]['\"]|['\"][\]}]|\{\}|\[\]")),
    ("backtick", re.compile(r"`")),
    ("command", re.compile(r"\bbot ")),
    ("config section", re.compile(r"\[[a-z_]+\]")),
    ("English sentence", re.compile(r"\b[A-Za-z]{2,}(?:[ ,'-]+[A-Za-z]{2,}){2,}\b")),
)
# Names the office itself writes in Latin letters.
ALLOWED = ("USEN SPOT Plus", "USEN SPOT Tourist", "USEN SPOT", "Original SSID", "Message-ID", "Wi-Fi")


def offences(text: str) -> list[tuple[str, str]]:
    """(rule, the offending words) for every rule `text` breaks."""
    for name in ALLOWED:
        text = text.replace(name, " ")
    found = []
    for rule, pattern in RULES:
        for m in pattern.finditer(text):
            start = max(0, m.start() - 25)
            found.append((rule, text[start:m.end() + 25].replace("\n", " ")))
    return found


# The visible text of a page without what mails and customers brought (see the module doc).
VISIBLE_TEXT_JS = """() => {
  const copy = document.body.cloneNode(true);
  copy.querySelectorAll('[translate="no"], script, style, textarea').forEach(e => e.remove());
  document.body.appendChild(copy);
  copy.style.position = 'absolute'; copy.style.left = '-99999px';
  const text = copy.innerText;
  copy.remove();
  return text;
}"""
