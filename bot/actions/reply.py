"""差戻 (rejection) reply: rendered from templates/reject.txt.j2, threaded, into the outbox."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from sqlalchemy.orm import Session

from bot import classify
from bot.checks.sender import domain_allowed
from bot.decide import UNKNOWN_KIND, Decision
from bot.mail import InboundMail
from bot.models import OutboxMessage
from bot.outbox import enqueue, new_message_id
from bot.templating import Templates

KIND_LABELS = {kind: prefix for prefix, kind in classify.PREFIXES}


def reply_subject(subject: str) -> str:
    s = subject.strip()
    return s if s[:3].lower() == "re:" else f"Re: {s}"


def reply_recipient(mail: InboundMail, allowed_domains: tuple[str, ...]) -> str | None:
    """Who a 差戻 goes to. Reply-To is honoured only inside the allowed domains: otherwise a
    forged header would send our reply (customer codes included) to an outside address."""
    if mail.reply_to and domain_allowed(mail.reply_to, allowed_domains):
        return mail.reply_to
    return mail.from_addr


def build_reply(
    mail: InboundMail,
    decision: Decision,
    *,
    templates: Templates,
    from_addr: str,
    own_addresses: tuple[str, ...],
    received_at: dt.datetime,
    tz: dt.tzinfo,
    now: dt.datetime,
    extra_cc: tuple[str, ...] = (),
    allowed_domains: tuple[str, ...] = (),
) -> EmailMessage:
    to = reply_recipient(mail, allowed_domains)
    if not to:
        raise ValueError("cannot reply: the mail has neither Reply-To nor From")
    own = {a.lower() for a in own_addresses} | {from_addr.lower(), to.lower()}
    cc: list[str] = []
    for addr in (*mail.cc, *extra_cc):
        if addr.lower() not in own and addr.lower() not in (c.lower() for c in cc):
            cc.append(addr)
    body = templates.render(
        "reject.txt.j2",
        {
            "sender_name": mail.from_name,
            "kind_label": KIND_LABELS.get(decision.kind or "", "USEN SPOT 依頼"),
            "original_subject": mail.subject,
            "customer_code": decision.customer_code,
            "received_at": received_at.astimezone(tz).strftime("%Y/%m/%d %H:%M"),
            "defects_list": list(decision.defects),
            "show_subjects": UNKNOWN_KIND in decision.defect_codes,
            "prefixes": [prefix for prefix, _kind in classify.PREFIXES],
        },
    )
    msg = EmailMessage()
    msg["From"] = formataddr(("USEN SPOT 事務センター", from_addr))
    msg["To"] = to
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = reply_subject(mail.subject)
    msg["Date"] = format_datetime(now.astimezone(tz))
    msg["Message-ID"] = new_message_id(from_addr)
    if mail.message_id:
        msg["In-Reply-To"] = mail.message_id
        msg["References"] = " ".join((*mail.references, mail.message_id))
    # RFC 3834: an automatic reply says so, so other robots do not answer it.
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(body, charset="utf-8")
    return msg


def queue_reply(session: Session, msg: EmailMessage, *, mail_id: int, now: dt.datetime) -> OutboxMessage:
    return enqueue(session, msg, purpose="reply", now=now, mail_id=mail_id)
