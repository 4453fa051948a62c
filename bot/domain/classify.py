"""Subject → request kind (依頼の種類) and 9-digit UNIS customer code (UNIS顧客コード).

The manual (§II) fixes the subject form ``USEN SPOT <prefix>_<UNIS顧客コード>``.  Real
subjects drift: ``Re:``/``Fw:``/``転送:`` in front, ``【】``, full-width digits and ``＿``,
spaces anywhere (``USENSPOT``, ``USEN　SPOT``), encoded words (decoded by ``bot.mail``).

Matching is deliberately strict about word boundaries: a prefix must not be glued to other
words on either side.  ``解約キャンセル申請`` therefore matches neither キャンセル申請 nor
anything else (the branch gets the list of valid subjects), and ``解約申請のキャンセル`` is
not a 解約申請.  Misreading a withdrawal as a termination costs far more than a 差戻.
Pure: no I/O.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass

log = logging.getLogger(__name__)

__all__ = [
    "ALIASES",
    "CANCELLATION",
    "CONTRACT_CHANGE",
    "CORPORATE_ORDER",
    "CORPORATE_PREFIX",
    "CUSTOMER_INFO_CHANGE",
    "Classification",
    "EQUIPMENT_ORDER",
    "KINDS",
    "LABELS",
    "LINK_ITEM_USED",
    "NOTICE_RESEND",
    "ORIGINAL_SSID",
    "PREFIXES",
    "RELOCATION",
    "ROUTER_EXCHANGE",
    "ROUTER_NOT_REMOVED",
    "TERMINATION",
    "TERMINATION_WITHDRAWAL",
    "classify_subject",
    "normalise_subject",
]

EQUIPMENT_ORDER = "equipment_order"  # 器材発注依頼
CONTRACT_CHANGE = "contract_change"  # 契約変更
CANCELLATION = "cancellation"  # キャンセル申請
TERMINATION = "termination"  # 解約申請
ROUTER_NOT_REMOVED = "router_not_removed"  # ルーター未撤去
RELOCATION = "relocation"  # 移設依頼
TERMINATION_WITHDRAWAL = "termination_withdrawal"  # 解約キャンセル依頼
CORPORATE_ORDER = "corporate_order"  # 法人一括発注依頼 (manual §IX, 法人営業 only)
# The manual's second part (DESIGN.md): what else it sends to 事務センター.
CUSTOMER_INFO_CHANGE = "customer_info_change"  # 顧客情報変更 (§II 移設: the customer moved it themselves)
ORIGINAL_SSID = "original_ssid"  # OriginalSSID追加申請 (IV: 事務センターでUNIS確定)
NOTICE_RESEND = "notice_resend"  # 登録通知書発送依頼 (IV: from the support center, CS)
ROUTER_EXCHANGE = "router_exchange"  # ルーター交換依頼 (V: from テクニカルサポート課 only)
LINK_ITEM_USED = "link_item_used"  # リンク品使用連絡 (故障交換: from an engineer or テクサポ課)

KINDS: tuple[str, ...] = (
    EQUIPMENT_ORDER,
    CONTRACT_CHANGE,
    CANCELLATION,
    TERMINATION,
    ROUTER_NOT_REMOVED,
    RELOCATION,
    TERMINATION_WITHDRAWAL,
    CORPORATE_ORDER,
    CUSTOMER_INFO_CHANGE,
    ORIGINAL_SSID,
    NOTICE_RESEND,
    ROUTER_EXCHANGE,
    LINK_ITEM_USED,
)

#: The subject prefixes: the seven of manual §II, then the five of its other parts (DESIGN.md).
#: The one table of kinds: these, and only these, are the valid subjects a 差戻 for
#: UNKNOWN_KIND lists (matching tries the longest first: 解約キャンセル依頼 before キャンセル申請).
PREFIXES: tuple[tuple[str, str], ...] = (
    ("器材発注依頼", EQUIPMENT_ORDER),
    ("契約変更", CONTRACT_CHANGE),
    ("キャンセル申請", CANCELLATION),
    ("解約申請", TERMINATION),
    ("ルーター未撤去", ROUTER_NOT_REMOVED),
    ("移設依頼", RELOCATION),
    ("解約キャンセル依頼", TERMINATION_WITHDRAWAL),
    ("顧客情報変更", CUSTOMER_INFO_CHANGE),
    ("OriginalSSID追加申請", ORIGINAL_SSID),
    ("登録通知書発送依頼", NOTICE_RESEND),
    ("ルーター交換依頼", ROUTER_EXCHANGE),
    ("リンク品使用連絡", LINK_ITEM_USED),
)

#: Other names the manual itself uses for a request (its section headings: 契約変更依頼,
#: キャンセル依頼; §V: 子機の機材発注依頼), and 解約・キャンセル依頼, a withdrawal written with a
#: separator.  Accepted when matching, never offered in a reply.
ALIASES: tuple[tuple[str, str], ...] = (
    ("契約変更依頼", CONTRACT_CHANGE),
    ("キャンセル依頼", CANCELLATION),
    ("機材発注依頼", EQUIPMENT_ORDER),
    ("解約・キャンセル依頼", TERMINATION_WITHDRAWAL),
    ("解約/キャンセル依頼", TERMINATION_WITHDRAWAL),
    ("オリジナルSSID追加申請", ORIGINAL_SSID),
    ("登録通知書再発送依頼", NOTICE_RESEND),
)

#: 法人営業's bulk order (manual §IX). Not one of the branches' subjects (never offered in a
#: reply); its prefix is configurable ([corporate] prefix), passed by the callers that know it.
CORPORATE_PREFIX = "法人一括発注依頼"

#: Kind → its subject prefix as people read it, every kind (the seven of §II and 法人一括発注依頼).
LABELS: dict[str, str] = {**{kind: prefix for prefix, kind in PREFIXES}, CORPORATE_ORDER: CORPORATE_PREFIX}

# Longest first over prefixes and aliases together: 解約キャンセル依頼 (9) is tried before
# キャンセル依頼 (7), so a withdrawal is never read as a cancellation.
_MATCH_ORDER: tuple[tuple[str, str], ...] = tuple(
    sorted(PREFIXES + ALIASES + ((CORPORATE_PREFIX, CORPORATE_ORDER),), key=lambda item: len(item[0]), reverse=True)
)

_SPOT = re.compile(r"U\s*S\s*E\s*N[\s_\-・･]*S\s*P\s*O\s*T", re.I)
# Reply/forward markers, repeated: Re: RE: Fw: FW: Fwd: 転送: 返信: Re[2]: Re^2: AW: WG: SV: TR:
_REPLY = re.compile(
    r"^\s*(?:re|fw|fwd|aw|wg|sv|vs|tr|rv|転送|返信|回覧)\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:>]\s*",
    re.I,
)
_BRACKETS = re.compile(r"[【】\[\]〔〕［］〘〙〚〛《》«»]")
_CODE = re.compile(r"(?<![0-9])([0-9]{9})(?![0-9])")
# Right after the prefix the code may be written in groups: _988-776-654, _988 776 654.
_CODE_AFTER_PREFIX = re.compile(r"[\s_\-:=#/.]*([0-9](?:[ \-]?[0-9]){8})(?![ \-]?[0-9])")
# 解約 + a separator before キャンセル…: 解約・キャンセル申請 is no キャンセル申請 (see _boundary_before).
_WITHDRAWAL_HEAD = re.compile(r"解約[・/･_\-]?$")


@dataclass(frozen=True)
class Classification:
    """What the subject says: the kind (None when no prefix matches) and the code."""

    kind: str | None
    customer_code: str | None
    names_spot: bool
    normalised: str


def normalise_subject(subject: str) -> str:
    """NFKC, reply/forward markers stripped, brackets → spaces, whitespace collapsed.

    ``USEN SPOT`` in any spacing or case is written ``USEN SPOT``.
    """
    text = unicodedata.normalize("NFKC", subject or "")
    text = re.sub(r"[\x00-\x1f\x7f\u200b\ufeff]", " ", text)
    while True:  # Re: 【転送】Fw: … in any order and number
        stripped = _REPLY.sub("", text, count=1)
        if stripped == text:
            stripped = _BRACKETS.sub(" ", text)
            if stripped == text:
                break
        text = stripped
    text = _SPOT.sub(" USEN SPOT ", text)
    return re.sub(r"\s+", " ", text).strip()


def _is_word_char(ch: str) -> bool:
    """Letters (kanji, kana, Latin) and the prolonged sound mark glue words together."""
    return unicodedata.category(ch)[0] == "L" or ch in "ー々〆"


def _find_prefix(spaced: str, order: tuple[tuple[str, str], ...] = _MATCH_ORDER) -> tuple[str, int] | None:
    """(kind, end index in ``spaced``) of the longest prefix with word boundaries.

    Matching is done on a copy without spaces (``器材 発注依頼`` is still 器材発注依頼);
    a space in the original, ``USEN SPOT`` itself, or any non-letter counts as a boundary.
    """
    compact_chars: list[str] = []
    index_map: list[int] = []  # compact index → index in spaced
    for i, ch in enumerate(spaced):
        if ch != " ":
            compact_chars.append(ch)
            index_map.append(i)
    compact = "".join(compact_chars)
    for prefix, kind in order:
        start = compact.find(prefix)
        while start != -1:
            end = start + len(prefix)
            if _boundary_before(spaced, compact, index_map, start) and _boundary_after(
                spaced, compact, index_map, end
            ):
                return kind, index_map[end - 1] + 1
            start = compact.find(prefix, start + 1)
    return None


def _boundary_before(spaced: str, compact: str, index_map: list[int], start: int) -> bool:
    if start == 0:
        return True
    if index_map[start] - index_map[start - 1] > 1:  # a space in between
        return True
    if compact[:start].endswith("USENSPOT"):
        return True
    if compact.startswith("キャンセル", start) and _WITHDRAWAL_HEAD.search(compact[:start]):
        return False  # 解約・キャンセル申請: about a termination, never a cancellation
    return not _is_word_char(compact[start - 1])


def _boundary_after(spaced: str, compact: str, index_map: list[int], end: int) -> bool:
    if end >= len(compact):
        return True
    if index_map[end] - index_map[end - 1] > 1:
        return True
    return not _is_word_char(compact[end])


def classify_subject(subject: str, *, corporate_prefix: str | None = None) -> Classification:
    """Kind and 9-digit customer code of a (decoded) subject.  Never raises.

    The code is a run of exactly nine digits: preferably the one right after the
    prefix's ``_``, else the first anywhere in the subject; 8 or 10 digits are no code.
    `corporate_prefix`: the configured ([corporate] prefix) subject of a 法人一括発注依頼, when it
    is not the default one.
    """
    try:
        return _classify(subject, corporate_prefix)
    except Exception:  # defensive: a subject must never stop the pipeline
        log.exception("classify_subject failed on %r", subject)
        return Classification(kind=None, customer_code=None, names_spot=False, normalised="")


def _classify(subject: str, corporate_prefix: str | None = None) -> Classification:
    spaced = normalise_subject(subject if isinstance(subject, str) else str(subject or ""))
    names_spot = "USEN SPOT" in spaced
    order = _MATCH_ORDER
    extra = unicodedata.normalize("NFKC", corporate_prefix or "").replace(" ", "")
    if extra and extra != CORPORATE_PREFIX:
        order = tuple(sorted(order + ((extra, CORPORATE_ORDER),), key=lambda item: len(item[0]), reverse=True))
    found = _find_prefix(spaced, order)
    kind = None
    code = None
    if found is not None:
        kind, end = found
        after = _CODE_AFTER_PREFIX.match(spaced, end)
        if after:
            code = re.sub(r"[ \-]", "", after.group(1))
    if code is None:
        codes = _CODE.findall(spaced)
        if codes:
            code = codes[0]
            if len(set(codes)) > 1:
                log.debug("subject %r carries several codes %s; taking the first", subject, codes)
    normalised = spaced.replace("USEN SPOT", "USENSPOT").replace(" ", "")
    return Classification(kind=kind, customer_code=code, names_spot=names_spot, normalised=normalised)
