"""差戻 by a person: the defects a person chooses (grouped as the form is), a remark of their
own, the exact mail shown before it is sent, and then the 差戻 the pipeline would send.

    choices (every code, the bot's findings ticked)  →  preview (build_reply, nothing queued)
    →  confirm: the same mail built again, its body compared with the one previewed, queued

The reply is the pipeline's: ``build_reply`` (same template, recipients rules, branch manager
in CC, In-Reply-To/References) and ``queue_reply`` into the outbox, in the transaction that
closes the held row. The hourly reply cap is not applied: it stops a robot loop, and this is
a person's single click.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from sqlalchemy.orm import Session

from bot import decide as deciding
from bot.actions import scan_shadow
from bot.actions.held import (
    Detail,
    Done,
    ResolveError,
    StaleError,
    Tools,
    close,
    locked_held,
)
from bot.actions.reply import build_reply, queue_reply
from bot.actions.reply_samples import OFFERED_CODES
from bot.checks.base import Defect, Facts, RuleSettings
from bot.checks.cc_manager import find_branch
from bot.config import Config
from bot.db.models import Mail
from bot.decide import Decision
from bot.mail import InboundMail, parse_mail
from bot.pipeline.gather import Attachments, gather

log = logging.getLogger("bot.actions.person_reject")

DEFECT_CODES: tuple[str, ...] = OFFERED_CODES
MAX_REMARK = 1000  # characters of a person's remark in the 差戻 mail

# The choices grouped as a branch reads its mail: what is attached, the form inside it, the
# mail's own text (subject, body, CC), and what UNIS or the ledger say. Every code of
# DEFECT_CODES is in exactly one group (tests/test_web_reject_compose.py checks it).
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("attachment", "添付", ("ATTACHMENT_MISSING", "ATTACHMENT_NOT_FORM", "PDF_NOT_ENCRYPTED", "PDF_WRONG_PASSWORD",
                           "PDF_UNREADABLE", "CORPORATE_LIST_INVALID", "CORPORATE_ROW_INVALID")),
    ("form", "申込書", ("LINE_KIND_MISSING", "LINE_TYPE_MISSING", "MAIL_ADDRESS_MISSING", "MAIL_ADDRESS_INVALID",
                      "MAIL_ADDRESS_READING_MISMATCH", "SSID_NOT_HALFWIDTH", "UNIT_COUNT_MISSING", "PLUS_FLAG_MISMATCH",
                      "SPOT_NOT_SELECTED")),
    ("body", "本文・件名・CC", ("BODY_FIELD_MISSING", "REASON_MISSING", "TERMINATION_DATE_MISSING",
                             "DESTINATION_LINE_MISSING", "CHANGE_CONTENT_MISSING", "UNKNOWN_KIND",
                             "CUSTOMER_CODE_MISSING", "CUSTOMER_CODE_MISMATCH", "CC_MANAGER_MISSING",
                             "SENDER_NOT_PERMITTED")),
    ("unis", "UNIS・管理台帳", ("UNIS_ORDER_MISSING", "CUSTOMER_NOT_FOUND", "STATE_CONFLICT", "WITHDRAWAL_TOO_LATE")),
)


# The codes a check decides without the PDFs (the mail's text, UNIS, the ledger).
_WITHOUT_PDF = frozenset(code for key, _label, codes in GROUPS if key in ("body", "unis") for code in codes)


@dataclass(frozen=True)
class Choice:
    defect: Defect
    found: bool  # the bot found (or suspected) it: ticked, listed first
    instances: tuple[Defect, ...] = ()  # the same code found several times, each with its detail


@dataclass(frozen=True)
class Group:
    key: str
    label: str
    choices: tuple[Choice, ...]


@dataclass(frozen=True)
class Preview:
    """The 差戻 exactly as it will leave: headers and body (nothing queued)."""

    to: str
    cc: str
    subject: str
    body: str
    codes: tuple[str, ...]
    remark: str

    @property
    def fingerprint(self) -> str:
        """What the person confirmed: the send is refused when the mail built then differs."""
        text = "\n".join((self.to, self.cc, self.subject, self.body))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# -- choices ----------------------------------------------------------------------------------

def light_facts(session: Session, row: Mail, mail: InboundMail, cfg: Config, settings: RuleSettings) -> Facts:
    """Facts without opening a PDF (subject, body, UNIS, ledger): enough for the recipients
    (branch manager) and for the details of the defects a person adds."""
    return gather(mail, cfg=cfg, session=session, received_at=row.received_at, settings=settings,
                  attachments=Attachments())


def defect_choices(row: Mail, facts: Facts) -> list[tuple[Defect, bool]]:
    """Every defect code with the detail its sentence needs, ticked when the bot found it
    (those first, then DESIGN.md's order). Detail: what the bot recorded, else what the
    kind's checks find without the PDFs."""
    stored = {str(d.get("code")): d.get("detail") or {} for d in (row.defects or [])}
    found = _light_findings(facts)
    codes = list(DEFECT_CODES) + [c for c in stored if c not in DEFECT_CODES]
    # The sentences that name the customer code read it from the detail (_defects.j2).
    defaults = {code: {"code": facts.code or ""} for code in ("UNIS_ORDER_MISSING", "CUSTOMER_NOT_FOUND")}
    # Ticked: what the bot recorded, and what the checks find in the body, UNIS and the ledger
    # (read surely); never a finding about the form or attachment made without its PDF.
    ticked = set(stored) | (set(found) & _WITHOUT_PDF)
    choices = [(Defect(code, Detail({**defaults.get(code, {}), **found.get(code, {}), **stored.get(code, {})})),
                code in ticked)
               for code in codes]
    return sorted(choices, key=lambda choice: not choice[1])


def grouped_choices(row: Mail, facts: Facts) -> tuple[tuple[Choice, ...], tuple[Group, ...]]:
    """(the bot's findings, every other code in its group): the page lists the findings first,
    ticked, and the groups folded, so a person reaches them without passing 25 boxes."""
    several = stored_instances(row)
    choices = [Choice(d, found, tuple(several.get(d.code, ()))) for d, found in defect_choices(row, facts)]
    found = tuple(c for c in choices if c.found)
    rest = {c.defect.code: c for c in choices if not c.found}
    groups = [Group(key, label, tuple(rest.pop(code) for code in codes if code in rest)) for key, label, codes in GROUPS]
    if rest:  # a code the bot recorded that no group names
        groups.append(Group("other", "その他", tuple(rest.values())))
    return found, tuple(g for g in groups if g.choices)


def stored_instances(row: Mail) -> dict[str, list[Defect]]:
    """The codes the bot recorded more than once, each with its own detail (a 法人営業 list with
    two bad rows: CORPORATE_ROW_INVALID for each row and column): a 差戻 names every one."""
    found: dict[str, list[Defect]] = {}
    for d in row.defects or []:
        code = str(d.get("code"))
        found.setdefault(code, []).append(Defect(code, Detail(d.get("detail") or {})))
    return {code: defects for code, defects in found.items() if len(defects) > 1}


def _light_findings(facts: Facts) -> dict[str, dict[str, Any]]:
    _, chain = deciding.chain_for(facts)
    if chain is None:
        return {}
    try:
        return {d.code: dict(d.detail) for d in deciding.run_checks(chain[0], facts)}
    except Exception:  # details are a courtesy: a check unready for absent PDFs costs only them
        log.debug("mail %s: defect details without PDFs failed", facts.mail.message_id, exc_info=True)
        return {}


def chosen_codes(form: Mapping[str, str]) -> list[str]:
    """The codes ticked on the page (``defect_CODE``), in DESIGN.md's order."""
    order = {code: i for i, code in enumerate(DEFECT_CODES)}
    codes = [key.removeprefix("defect_") for key in form if key.startswith("defect_")]
    return sorted(dict.fromkeys(codes), key=lambda code: order.get(code, len(order)))


def clean_remark(text: str) -> str:
    """A person's remark as it goes into the mail: line breaks kept, other control characters
    dropped, at most MAX_REMARK characters."""
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    kept = "".join(c for c in lines if c == "\n" or c >= " " and c != "\x7f")
    return kept.strip()[:MAX_REMARK]


# -- the mail ---------------------------------------------------------------------------------

def _build(session: Session, row: Mail, codes: Sequence[str], *, tools: Tools, now: dt.datetime,
           remark: str) -> tuple[EmailMessage, Decision, list[str]]:
    chosen = list(dict.fromkeys(codes))
    if not chosen:
        raise ResolveError("差戻す不備を1つ以上選んでください。")
    mail = parse_mail(row.raw, tools.cfg.limits)
    facts = light_facts(session, row, mail, tools.cfg, tools.settings)
    by_code = {d.code: d for d, _ticked in defect_choices(row, facts)}
    unknown = [c for c in chosen if c not in by_code]
    if unknown:
        raise ResolveError("不明な不備コードが指定されました。ページを開き直してください。")
    c = facts.classification
    several = stored_instances(row)
    defects = tuple(d for code in chosen for d in several.get(code, [by_code[code]]))
    decision = Decision(row.kind or c.kind, row.customer_code or c.customer_code, deciding.REJECTED,
                        defects=defects, variant=(row.facts or {}).get("variant"))
    # The pipeline's 差戻, argument for argument (bot/pipeline/ _decide_and_act).
    cfg = tools.cfg
    branch = find_branch(facts, tools.settings.branches)
    try:
        msg = build_reply(
            mail, decision, templates=tools.templates, from_addr=cfg.smtp.from_addr,
            own_addresses=(cfg.mailbox.user,), received_at=row.received_at, tz=cfg.office.tz, now=now,
            extra_cc=(branch.manager,) if branch is not None and branch.manager else (),
            allowed_domains=cfg.senders.allowed_domains, max_recipients=cfg.senders.max_reply_recipients,
            remark=remark,
        )
    except ValueError as err:
        raise ResolveError("差出人（From / Reply-To）が許可ドメイン内の正しいアドレスではないため、差戻メールを送れません。"
                           "対応済みにしてください。") from err
    return msg, decision, chosen


def _preview_of(msg: EmailMessage, codes: Sequence[str], remark: str) -> Preview:
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""  # type: ignore[attr-defined]
    return Preview(str(msg["To"] or ""), str(msg["Cc"] or ""), str(msg["Subject"] or ""), text, tuple(codes), remark)


def preview(session: Session, mail_id: int, codes: Sequence[str], *, tools: Tools, by: str, now: dt.datetime,
            remark: str = "") -> Preview:
    """The 差戻 these codes and this remark make, as it would leave now; nothing is written."""
    row = locked_held(session, mail_id, by=by)
    msg, _decision, chosen = _build(session, row, codes, tools=tools, now=now, remark=remark)
    return _preview_of(msg, chosen, remark)


def reject(session: Session, mail_id: int, codes: Sequence[str], *, tools: Tools, by: str,
           now: dt.datetime, remark: str = "", confirmed: str | None = None) -> Done:
    """The 差戻 the pipeline would send for these defects (with the person's remark), queued
    with the decision. `confirmed`: the fingerprint of the preview the person saw; refused
    (StaleError) when the mail built now differs from it."""
    row = locked_held(session, mail_id, by=by)
    msg, decision, chosen = _build(session, row, codes, tools=tools, now=now, remark=remark)
    if confirmed is not None and _preview_of(msg, chosen, remark).fingerprint != confirmed:
        raise StaleError("確認した差戻メールと内容が変わりました（テンプレートや記録が更新されました）。もう一度確認してください。")
    out = queue_reply(session, msg, mail_id=row.id, now=now)
    scan_shadow.record(session, scan_shadow.observe(session, row, cfg=tools.cfg, settings=tools.settings),
                       outcome=scan_shadow.REJECTED, by=by, now=now, person_defects=chosen)
    close(row, decision, by=by, now=now, resolution="差戻（" + "、".join(chosen) + "）",
          facts={"remark": remark} if remark else {})
    log.info("mail %s: rejected by %s with %s; reply %s to %s", row.id, by, chosen, out.id, out.rcpt_to)
    return Done(row.id, deciding.REJECTED, "、".join(chosen), out.id, tuple(out.rcpt_to))
