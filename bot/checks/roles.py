"""The kinds only one role sends (DESIGN.md, the manual's second part): 登録通知書発送依頼 from the
support center (CS, manual IV), ルーター交換依頼 from テクニカルサポート課 (manual V:
「必ずエンジニアからテクニカルサポート課へ依頼してください」), リンク品使用連絡 from an engineer or
テクサポ課 (故障交換). Anyone else gets SENDER_NOT_PERMITTED, naming who must send it; the
template says it in the manual's words. Who holds a role: [senders] support, techsupport,
engineers (addresses or domains). A kind none of whose roles is configured is held for a person
before any check (bot/decide/first_look.py): nobody could be told who must send it."""

from __future__ import annotations

from bot.checks.base import Defect, Facts
from bot.checks.sender import listed
from bot.domain import classify

SENDER_NOT_PERMITTED = "SENDER_NOT_PERMITTED"
SUPPORT, TECHSUPPORT, ENGINEERS = "support", "techsupport", "engineers"
# Each role as the office names it.
ROLE_NAMES = {SUPPORT: "サポートセンター（CS）", TECHSUPPORT: "テクニカルサポート課", ENGINEERS: "エンジニア"}
# Kind → the roles that may send it. The kinds not here are the branches' (anyone allowed).
ROLES: dict[str, tuple[str, ...]] = {
    classify.NOTICE_RESEND: (SUPPORT,),
    classify.ROUTER_EXCHANGE: (TECHSUPPORT,),
    classify.LINK_ITEM_USED: (ENGINEERS, TECHSUPPORT),
}


def who_may_send(kind: str | None) -> str:
    """The roles of a kind in the office's words: 「エンジニア・テクニカルサポート課」."""
    return "・".join(ROLE_NAMES[r] for r in ROLES.get(kind or "", ()))


def permitted(f: Facts) -> list[Defect]:
    """SENDER_NOT_PERMITTED when the kind needs a role the sender does not hold."""
    roles = ROLES.get(f.classification.kind or "")
    if not roles:
        return []
    if any(listed(f.mail.from_addr, f.settings.roles.get(role, ())) for role in roles):
        return []
    return [Defect(SENDER_NOT_PERMITTED, {"role": who_may_send(f.classification.kind)})]
