"""Everything the メール詳細 page shows about one mail, as plain values (reads only).

The mail as received (headers, body text, attachments: from the stored raw bytes, parsed by
the pipeline's own :func:`bot.mail.parse.parse_mail`), the decision with each defect and
warning and the facts behind it, the reply as sent (its outbox row), and the ledger events and
vendor rows for the mail and its customer.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.config import Config
from bot.db.models import LedgerEntry, LedgerEvent, Mail, OutboxMessage, VendorRow
from bot.digest import PURPOSE_LABELS
from bot.domain import vocab
from bot.ledger import STATE_LABELS
from bot.mail.parse import Attachment, InboundMail, parse_mail
from bot.web.queries import MailRow, mail_row, time_label
from bot.web.replies import reply_state

# Shown first, in this order; every header is listed below them on demand.
MAIN_HEADERS = ("From", "To", "Cc", "Reply-To", "Date", "Subject", "Message-ID", "In-Reply-To")
RELATED_LIMIT = 50
# The office's words for the form's fields and their reading (bot/domain/vocab.py).
FIELD_LABELS = vocab.FIELDS
STATE_NAMES = vocab.FIELD_STATES
SHAPES = vocab.FORM_SHAPES
# Facts the page shows in their own sections (or that only the bot needs).
_SHOWN = frozenset({"reason", "variant", "form", "form_readings", "form_unsure", "form_shape", "mail_problems",
                    "termination_readings", "termination_unsure", "form_detail", "decided_by", "form_refer"})


class Detail(dict[str, Any]):
    """A defect's detail; a key an older row lacks reads as 不明 (as in the digest)."""

    def __missing__(self, key: str) -> str:
        return "不明"


@dataclass(frozen=True)
class Finding:
    code: str
    detail: Detail


@dataclass(frozen=True)
class FieldLine:
    name: str
    label: str
    value: str
    state: str
    confidence: str
    unsure: bool


@dataclass(frozen=True)
class AttachmentLine:
    index: int
    filename: str
    content_type: str
    size: int
    is_pdf: bool


@dataclass(frozen=True)
class ReplyLine:
    id: int
    purpose: str
    status: str
    status_class: str
    to: str
    subject: str
    created: str
    sent: str
    attempts: int
    last_error: str
    text: str
    note: str = ""  # where it stands, for the person (bot.web.replies)


@dataclass(frozen=True)
class EventLine:
    at: str
    customer_code: str
    event: str  # its Japanese (発注); the code in `code`
    change: str
    mail_id: int | None
    detail: tuple[tuple[str, str], ...]
    code: str = ""


@dataclass(frozen=True)
class VendorLine:
    id: int
    customer_code: str
    category: str
    batch_date: str
    batch_id: int | None
    state: str
    mail_id: int | None
    payload: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class MailDetail:
    row: MailRow
    message_id: str
    folder: str
    headers: tuple[tuple[str, str], ...]
    all_headers: tuple[tuple[str, str], ...]
    body_text: str
    attachments: tuple[AttachmentLine, ...]
    reason: str
    defects: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    shape: str
    shape_detail: str  # the reader's own note on the form (English, technical): a title only
    fields: tuple[FieldLine, ...]
    facts_other: tuple[tuple[str, str], ...]
    mail_problems: tuple[tuple[str, str], ...]  # (for a person, the reader's note)
    replies: tuple[ReplyLine, ...]
    ledger_state: str
    ledger: LedgerEntry | None
    events: tuple[EventLine, ...]
    vendor_rows: tuple[VendorLine, ...]
    decided: str
    resolved: str
    resolution: str
    resolved_by: str
    error: str
    kind: str | None


def _fmt(value: object, key: str = "") -> str:
    return vocab.value_text(value, key)


def _fields(facts: Mapping[str, Any]) -> tuple[FieldLine, ...]:
    unsure = set(facts.get("form_unsure") or ())
    readings = facts.get("form_readings")
    out = []
    if isinstance(readings, dict) and readings:
        for name, r in readings.items():
            r = r if isinstance(r, dict) else {"value": r}
            conf = r.get("confidence")
            value = r.get("value")
            out.append(FieldLine(name, vocab.field_name(name),
                                 vocab.OPTIONS.get(value, value) if isinstance(value, str) else _fmt(value, name),
                                 STATE_NAMES.get(str(r.get("state", "")), "—"),
                                 # 記入あり (writing never read) has no value to be sure of
                                 "—" if r.get("state") == "filled" else
                                 f"{conf:.2f}" if isinstance(conf, (int, float)) else "",
                                 name in unsure or r.get("sure") is False))
    elif isinstance(facts.get("form"), dict):
        for name, value in facts["form"].items():
            shown = vocab.OPTIONS.get(value, value) if isinstance(value, str) else _fmt(value, name)
            out.append(FieldLine(name, vocab.field_name(name), shown, STATE_NAMES["read"], "", name in unsure))
    return tuple(out)


def _reply(o: OutboxMessage, tz: dt.tzinfo) -> ReplyLine:
    text = ""
    try:
        msg = email.message_from_bytes(o.raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
        text = body.get_content() if body is not None else ""
    except Exception as err:  # noqa: BLE001 - a stored message we cannot read is shown as such
        text = f"（本文を表示できません: {type(err).__name__}）"
    state = reply_state(o, tz)
    return ReplyLine(
        id=o.id, purpose=PURPOSE_LABELS.get(o.purpose, o.purpose), status=state.label, note=state.note,
        status_class=state.css, to=", ".join(o.rcpt_to or []),
        subject=o.subject, created=time_label(o.created_at, tz), sent=time_label(o.sent_at, tz),
        attempts=o.attempts, last_error=(o.last_error or "").strip().splitlines()[0] if o.last_error else "", text=text)


def parsed(mail: Mail, cfg: Config) -> InboundMail:
    return parse_mail(mail.raw, cfg.limits)


def attachment(mail: Mail, cfg: Config, index: int) -> Attachment | None:
    attachments = parsed(mail, cfg).attachments
    return attachments[index] if 0 <= index < len(attachments) else None


def mail_detail(session: Session, mail_id: int, *, cfg: Config,
                directory: Sequence[tuple[str, str]] = ()) -> MailDetail | None:
    m = session.get(Mail, mail_id)
    if m is None:
        return None
    tz = cfg.office.tz
    inbound = parsed(m, cfg)
    heads = dict(inbound.headers)
    lowered = {k.lower(): v for k, v in heads.items()}
    facts = dict(m.facts or {})
    facts_other = vocab.detail_lines({k: v for k, v in facts.items() if k not in _SHOWN})

    replies = session.scalars(select(OutboxMessage).where(OutboxMessage.mail_id == m.id)
                              .order_by(OutboxMessage.id)).all()
    code = m.customer_code
    entry = session.get(LedgerEntry, code) if code else None
    ev_where = [LedgerEvent.mail_id == m.id] + ([LedgerEvent.customer_code == code] if code else [])
    events = session.scalars(select(LedgerEvent).where(or_(*ev_where)).order_by(LedgerEvent.at.desc(), LedgerEvent.id.desc())
                             .limit(RELATED_LIMIT)).all()
    vr_where = [VendorRow.mail_id == m.id] + ([VendorRow.customer_code == code] if code else [])
    vrows = session.scalars(select(VendorRow).where(or_(*vr_where)).order_by(VendorRow.id.desc())
                            .limit(RELATED_LIMIT)).all()
    return MailDetail(
        row=mail_row(m, cfg, directory), message_id=m.message_id or "", folder=m.filed_folder or m.folder,
        headers=tuple((h, lowered[h.lower()]) for h in MAIN_HEADERS if h.lower() in lowered),
        all_headers=tuple(heads.items()), body_text=inbound.body_text,
        attachments=tuple(AttachmentLine(i, a.filename or f"添付{i + 1}", a.content_type, len(a.data), a.is_pdf)
                          for i, a in enumerate(inbound.attachments)),
        reason=vocab.plain(str(facts.get("reason") or "")),
        defects=tuple(Finding(str(d.get("code")), Detail(d.get("detail") or {})) for d in m.defects or []),
        warnings=tuple(Finding(str(w.get("code")), Detail(w.get("detail") or {})) for w in m.warnings or []),
        shape=SHAPES.get(str(facts.get("form_shape") or ""), str(facts.get("form_shape") or "")),
        fields=_fields(facts), facts_other=facts_other,
        mail_problems=tuple((vocab.mail_problem(str(p)), str(p)) for p in facts.get("mail_problems") or ()),
        shape_detail=str(facts.get("form_detail") or ""),
        replies=tuple(_reply(o, tz) for o in replies),
        ledger_state=STATE_LABELS.get(entry.state, entry.state) if entry else "", ledger=entry,
        events=tuple(EventLine(time_label(e.at, tz), e.customer_code, vocab.LEDGER_EVENTS.get(e.event, "その他"),
                               f"{STATE_LABELS.get(e.from_state or '', '（なし）')} → "
                               f"{STATE_LABELS.get(e.to_state, '—')}", e.mail_id, vocab.detail_lines(e.detail), e.event)
                     for e in events),
        vendor_rows=tuple(VendorLine(v.id, v.customer_code, v.category, f"{v.batch_date:%Y/%m/%d}", v.batch_id,
                                     "取消" if v.cancelled_at else ("送付済" if v.batch_id else "次の便を待つ"),
                                     v.mail_id, vocab.detail_lines(v.payload)) for v in vrows),
        decided=time_label(m.decided_at, tz), resolved=time_label(m.resolved_at, tz),
        resolution=vocab.plain(m.resolution or "（メモなし）") if m.resolved_at else "", resolved_by=m.resolved_by or "",
        error=m.error or "",
        kind=m.kind,
    )
