"""The MIME walk: a raw mail → its header block and its leaf parts, within the limits.

The stdlib's parser is not used on the mail as a whole: it recurses once per multipart
level (a thousand levels raise RecursionError and lose the body) and checks every line
against the boundary of every enclosing level, so a 450 KB mail nested 900 deep takes 14 s
to parse.  Here the tree is walked with an explicit stack over one text: a multipart's
body is split at its own boundary with ``str.find`` (one pass), each part's header block is
parsed by the stdlib (``compat32``, headers only, the policy mail-parser itself uses), and
the walk stops at :class:`~bot.config.limits.Limits` ``mime_parts`` and ``mime_depth``.  A part's
body is copied out only for a leaf, so memory stays linear too.

Parameters (``charset``, ``boundary``, ``filename*0*``) are read by :func:`param`, not by
``Message.get_param``: the stdlib splits a parameter list in quadratic time (its quote
counting rescans from the start for every ``;``: a 60 KB ``Content-Type`` takes 2 s).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from email import utils as email_utils
from email.message import Message
from email.parser import Parser
from email.policy import compat32

from bot.config.limits import Limits

__all__ = ["Leaf", "MailTree", "param", "walk"]

#: A parameter value: plain text, or RFC 2231 (charset, language, %-decoded text).
ParamValue = str | tuple[str, str, str]

_PARSER = Parser(policy=compat32)
# A line break, then an empty line ("\r\n" is one break, never a break and an empty line).
_BLANK_LINE = re.compile(r"(?:\r\n|\n|\r(?!\n))(?:\r\n|\r|\n)")
_SPACES_TABS = re.compile(r"[ \t]*")
# One parameter of a header value: quoted strings and backslash escapes may hold ";".
# The alternatives start with different characters, so matching never backtracks.
_PARAM_SEGMENT = re.compile(r'(?:"(?:[^"\\]+|\\.?)*"?|\\.?|[^;"\\]+)*', re.S)
_BOUNDARY_LINE = re.compile(r"^--([^\s]{1,200}?)[ \t]*\r?$", re.M)


@dataclass(frozen=True)
class Leaf:
    """A part that is not split further: its headers, and its body still transfer-encoded
    and surrogate-escaped as the stdlib keeps 8-bit bytes (also ``msg``'s payload, for
    ``get_payload(decode=True)``; never call ``get_payload()`` without it on a leaf: that
    decodes 8-bit text with whatever codec the charset parameter names)."""

    msg: Message
    where: str  # IMAP-style part number: "1", "2.1"
    body: str


@dataclass(frozen=True)
class MailTree:
    """The mail's own header block (``head``: headers only) and its leaves in order."""

    head: Message
    leaves: tuple[Leaf, ...]


def walk(text: str, limits: Limits, problems: list[str], exceeded: list[str]) -> MailTree:
    """Walk the MIME tree of ``text`` (a raw mail decoded ASCII/surrogateescape) → leaves.

    Problems are appended to ``problems``; a limit that was hit is described in
    ``exceeded`` (and in ``problems``).  Never raises on malformed input.
    """
    leaves: list[Leaf] = []
    head: Message | None = None
    visited = 0
    # (start, end, where, depth, default content type), popped in document order.
    stack: list[tuple[int, int, str, int, str]] = [(0, len(text), "message", 0, "text/plain")]
    while stack:
        start, end, where, depth, default_type = stack.pop()
        visited += 1
        if visited > limits.mime_parts:
            _exceeded(f"more than {limits.mime_parts} MIME parts", "mime_parts", "the rest ignored",
                      limits, problems, exceeded)
            break
        label = where if where == "message" else f"part {where}"
        msg, body_start = _read_part(text, start, end, label, limits, problems, exceeded)
        msg.set_default_type(default_type)
        if head is None:
            head = msg
        for defect in msg.defects:
            problems.append(f"{label}: MIME defect {type(defect).__name__}")
        leaf_where = "1" if where == "message" else where
        if msg.get_content_maintype() != "multipart":
            leaves.append(_leaf(msg, leaf_where, text[body_start:end]))
            continue
        if depth >= limits.mime_depth:
            _exceeded(f"MIME nesting deeper than {limits.mime_depth} levels", "mime_depth",
                      f"{label} and below ignored", limits, problems, exceeded)
            continue
        # Children past this many could never be visited: not even their offsets are kept.
        max_children = limits.mime_parts - visited + 1
        children = _children(text, body_start, end, msg, label, max_children, problems)
        if children is None:  # no boundary found: the body is taken as text
            leaves.append(_leaf(msg, leaf_where, text[body_start:end]))
            continue
        child_type = "message/rfc822" if msg.get_content_type() == "multipart/digest" else "text/plain"
        for index in range(len(children), 0, -1):
            c_start, c_end = children[index - 1]
            number = str(index) if where == "message" else f"{where}.{index}"
            stack.append((c_start, c_end, number, depth + 1, child_type))
    if head is None:  # mime_parts < 1 cannot pass the config, but stay total
        head = _PARSER.parsestr("", headersonly=True)
    return MailTree(head, tuple(leaves))


def _leaf(msg: Message, where: str, body: str) -> Leaf:
    msg.set_payload(body)
    return Leaf(msg, where, body)


def _exceeded(what: str, limit: str, consequence: str, limits: Limits, problems: list[str],
              exceeded: list[str]) -> None:
    description = f"{what}, over the limit {limits.describe(limit)}"
    problems.append(f"message: {description}; {consequence}")
    if description not in exceeded:
        exceeded.append(description)


def _read_part(text: str, start: int, end: int, label: str, limits: Limits, problems: list[str],
               exceeded: list[str]) -> tuple[Message, int]:
    """Parse the header block of text[start:end] → (headers-only Message, body offset).

    The block ends at the first empty line, or (as the stdlib has it) at the first line
    that is not a header.  A block over ``header_bytes`` is cut at the last line break
    within the limit; the header lines past it are dropped, the body is kept.
    """
    if text.startswith(("\r\n", "\n", "\r"), start):  # no headers at all
        newline = 2 if text.startswith("\r\n", start) else 1
        return _PARSER.parsestr("", headersonly=True), min(start + newline, end)
    blank = _BLANK_LINE.search(text, start, end)
    head_end = blank.end() if blank else end
    stop = head_end
    if head_end - start > limits.header_bytes:
        limit = start + limits.header_bytes
        cut = max(text.rfind("\n", start, limit), text.rfind("\r", start, limit))  # the last line break
        stop = cut + 1 if cut > start else limit
    msg = _PARSER.parsestr(text[start:stop], headersonly=True)
    # What the parser kept as body: read as stored, since get_payload() would decode 8-bit
    # text with whatever codec the part's charset names (``charset=punycode`` raises).
    leftover = msg._payload
    msg.set_payload(None)
    if isinstance(leftover, str) and leftover:  # a line that is no header ended the block
        return msg, stop - len(leftover)
    if stop < head_end:
        _exceeded(f"header block of {head_end - start} bytes", "header_bytes",
                  f"{label} headers cut", limits, problems, exceeded)
    return msg, head_end


def _children(text: str, start: int, end: int, msg: Message, label: str, max_parts: int,
              problems: list[str]) -> list[tuple[int, int]] | None:
    """The (start, end) of each part of a multipart body, or None when there are none."""
    boundary = _boundary(msg)
    if boundary is None:
        problems.append(f"{label}: MIME defect NoBoundaryInMultipartDefect")
    else:
        parts, closed = _split(text, start, end, boundary, max_parts)
        if parts is not None:
            if not closed:
                problems.append(f"{label}: MIME defect CloseBoundaryNotFoundDefect")
            return parts
        problems.append(f"{label}: MIME defect StartBoundaryNotFoundDefect")
    return _recover(text, start, end, msg, boundary, label, max_parts, problems)


def _split(text: str, start: int, end: int, boundary: str,
           max_parts: int) -> tuple[list[tuple[int, int]] | None, bool]:
    """Split text[start:end] at delimiter lines ``--boundary`` (RFC 2046 §5.1.1).

    A delimiter starts a line and is followed by nothing but ``--`` (the close delimiter),
    spaces and the line break; the line break before it belongs to it.  Returns the parts
    (None when no delimiter occurs; at most ``max_parts``) and whether the close delimiter
    was seen (or the walk would stop before it anyway).
    """
    delimiter = "--" + boundary
    parts: list[tuple[int, int]] = []
    part_start: int | None = None
    pos = start
    while True:
        i = text.find(delimiter, pos, end)
        if i < 0:
            break
        pos = i + len(delimiter)
        if i > start and text[i - 1] not in "\r\n":
            continue
        j = pos
        close = text.startswith("--", j, end)
        if close:
            j += 2
        j = _SPACES_TABS.match(text, j, end).end()  # type: ignore[union-attr]
        if j < end and text[j] not in "\r\n":
            continue
        previous_end = i
        if i > start and text[i - 1] == "\n":
            previous_end -= 2 if i - 1 > start and text[i - 2] == "\r" else 1
        elif i > start:
            previous_end -= 1
        if part_start is not None:
            parts.append((part_start, max(previous_end, part_start)))
        if close or len(parts) >= max_parts:
            return parts, True
        if j < end:
            j += 2 if text.startswith("\r\n", j, end) else 1
        part_start = pos = j
    if part_start is None:
        return None, False
    parts.append((part_start, end))
    return parts, False


def _recover(text: str, start: int, end: int, msg: Message, declared: str | None, label: str,
             max_parts: int, problems: list[str]) -> list[tuple[int, int]] | None:
    """A multipart whose declared boundary never occurs: find the one its body really uses."""
    match = _BOUNDARY_LINE.search(text, start, end)
    if match is not None:
        found = match.group(1)
        if found.endswith("--"):
            found = found[:-2]
        parts, _closed = _split(text, start, end, found, max_parts) if found else (None, False)
        if parts:
            problems.append(f"{label}: boundary {declared!r} not found, parts recovered with boundary {found!r}")
            return parts
    problems.append(f"{label}: {msg.get_content_type()} boundary {declared!r} not found, body taken as text")
    return None


def _boundary(msg: Message) -> str | None:
    """The boundary parameter, trailing spaces dropped (RFC 2046 forbids them); an empty one
    stays "" as in the stdlib (delimiters are then lines of "--" alone)."""
    value = param(msg, "boundary")
    if value is None:
        return None
    if isinstance(value, tuple):  # RFC 2231: a boundary is ASCII, the charset does not matter
        value = value[2]
    return value.rstrip()


def split_params(value: str) -> list[str]:
    """A header value → its ``;``-separated segments, quotes respected; linear time."""
    segments = []
    pos = 0
    while True:
        match = _PARAM_SEGMENT.match(value, pos)
        assert match is not None  # the pattern matches the empty string
        segments.append(match.group())
        pos = match.end() + 1  # past the ";"
        if pos > len(value):
            return segments


@functools.lru_cache(maxsize=8)
def _pairs(raw: str) -> tuple[tuple[str, str], ...]:
    """(lower-cased name, raw value) of each segment; cached, because a part's Content-Type
    is asked for charset, format, delsp, name and boundary in turn."""
    pairs: list[tuple[str, str]] = []
    for segment in split_params(raw):
        key, sep, value = segment.partition("=")
        pairs.append((key.strip().lower(), value.strip()) if sep else (segment.strip().lower(), ""))
    return tuple(pairs)


def param(msg: Message, name: str, header: str = "content-type") -> ParamValue | None:
    """A parameter of a header, as ``Message.get_param`` gives it, in linear time.

    RFC 2231 continuations and charsets are joined by :func:`email.utils.decode_params`;
    a parameter list it cannot make sense of gives None.
    """
    raw = msg.get(header)
    if raw is None:
        return None
    wanted = name.lower()
    pairs = _pairs(str(raw))
    # Only this parameter's segments (name, name*, name*0*, …) go through decode_params.
    mine = [(key, value) for key, value in pairs[1:] if key == wanted or key.startswith(wanted + "*")]
    if not mine:
        return None
    try:
        decoded = email_utils.decode_params([pairs[0], *mine])
    except (ValueError, TypeError):  # continuation numbers mixed with none, or absurd ones
        return None
    for key, value in decoded[1:]:
        if key.lower() == wanted:
            if isinstance(value, tuple):
                return (value[0] or "", value[1] or "", email_utils.unquote(value[2]))
            return email_utils.unquote(value)
    return None


def text_param(msg: Message, name: str) -> str | None:
    """A Content-Type parameter as plain text (``charset``, ``format``), or None."""
    value = param(msg, name)
    if isinstance(value, tuple):
        value = value[2]
    if value is None:
        return None
    return str(value).strip().strip('"') or None

