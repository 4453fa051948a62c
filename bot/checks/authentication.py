"""Sender authentication: the From domain alone proves nothing (DESIGN.md "Decisions").

Our own MTA checks SPF, DKIM and DMARC and writes the result into an
``Authentication-Results`` header (RFC 8601) carrying its authserv-id. Only that header is
trusted: any other one (added by the sender, or by a server on the way) is ignored, as RFC 8601
§5 says, and of our MTA's headers only the topmost, the one it added last, counts.

A mail passes when DMARC passed, or when SPF or DKIM passed for a domain aligned with the From
domain (relaxed alignment: the same organisational domain). Pure: header texts in, a verdict out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

OFF = "off"
HOLD = "hold"
IGNORE = "ignore"
POLICIES = (OFF, HOLD, IGNORE)

# Second-level labels under which registrations happen in .jp (and a few common others): the
# organisational domain of aoyama.usen.co.jp is usen.co.jp, of mail.example.com example.com.
_SECOND_LEVEL = frozenset({"co", "ne", "or", "ac", "ad", "ed", "go", "gr", "lg", "com", "net", "org", "gov", "edu"})
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s;=]+|=|;')


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str  # in Japanese, for the digest and the console: what was found


@dataclass(frozen=True)
class _Result:
    method: str
    result: str
    props: dict[str, str]


def organisational_domain(domain: str) -> str:
    labels = [label for label in domain.strip().lower().rstrip(".").split(".") if label]
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def aligned(domain: str | None, from_domain: str) -> bool:
    if not domain:
        return False
    domain = domain.strip().lower().rstrip(".").rpartition("@")[2]
    return bool(domain) and organisational_domain(domain) == organisational_domain(from_domain)


def _strip_comments(text: str) -> str:
    """RFC 5322 comments (nested parentheses) out, quoted strings kept."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for ch in text[:8192]:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if quoted:
            quoted = ch != '"'
            out.append(ch)
        elif ch == '"' and depth == 0:
            quoted = True
            out.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            out.append(" ")
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def parse(header: str) -> tuple[str, list[_Result]]:
    """``authserv-id; method=result ptype.prop=value ...; ...`` → (authserv-id, results)."""
    parts = [p.strip() for p in re.split(r";(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", _strip_comments(header))]
    if not parts or not parts[0]:
        return "", []
    authserv_id = parts[0].split()[0].lower()
    results: list[_Result] = []
    for part in parts[1:]:
        tokens = _TOKEN.findall(part)
        pairs: list[tuple[str, str]] = []
        i = 0
        while i + 2 < len(tokens):
            if tokens[i + 1] == "=":
                pairs.append((tokens[i].lower(), tokens[i + 2].strip('"')))
                i += 3
            else:
                i += 1
        if not pairs:
            continue
        method, result = pairs[0]
        results.append(_Result(method.split("/")[0], result.lower(), {k: v for k, v in pairs[1:]}))
    return authserv_id, results


def verdict(headers: Sequence[str], *, authserv_id: str, from_addr: str | None) -> Verdict:
    """Did our MTA authenticate this From domain? ``headers``: every Authentication-Results
    value, topmost first."""
    from_domain = (from_addr or "").rpartition("@")[2].lower()
    if not from_domain:
        return Verdict(False, "差出人アドレスがありません")
    wanted = authserv_id.strip().lower()
    if not wanted:
        return Verdict(False, "自社メールサーバーの authserv-id が設定されていません（[senders] authserv_id）")
    ours = None
    for header in headers:
        server, results = parse(header)
        if server == wanted:
            ours = results
            break
    if ours is None:
        return Verdict(False, f"自社メールサーバー（{wanted}）の認証結果ヘッダーがありません")
    seen = "、".join(f"{r.method}={r.result}" for r in ours) or "結果なし"
    failed = Verdict(False, f"送信者認証に失敗しました（{seen}）：差出人ドメイン {from_domain} を確認できません")
    dmarc = [r for r in ours if r.method == "dmarc"]
    if dmarc:
        # DMARC already judged alignment: its pass or fail is the answer. Only without a DMARC
        # verdict (no record published, a temporary error) do aligned SPF or DKIM count.
        r = dmarc[0]
        if r.result == "pass" and aligned(r.props.get("header.from") or from_domain, from_domain):
            return Verdict(True, "dmarc=pass")
        if r.result in ("pass", "fail"):
            return failed
    for r in ours:
        if r.result != "pass":
            continue
        if r.method == "spf" and aligned(r.props.get("smtp.mailfrom") or r.props.get("smtp.helo"), from_domain):
            return Verdict(True, "spf=pass（差出人ドメインと一致）")
        if r.method == "dkim" and aligned(r.props.get("header.d") or r.props.get("header.i"), from_domain):
            return Verdict(True, "dkim=pass（差出人ドメインと一致）")
    return failed
