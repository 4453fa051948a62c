"""差戻 (rejection) reply: rendered from templates/reject.txt.j2, threaded, into the outbox."""

from __future__ import annotations

import datetime as dt
import re
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from sqlalchemy.orm import Session

from bot.actions.outbox import enqueue, new_message_id
from bot.checks.sender import domain_allowed
from bot.db.models import OutboxMessage
from bot.decide import UNKNOWN_KIND, Decision
from bot.domain import classify, vocab
from bot.mail import InboundMail
from bot.mail.fields import valid_message_id as is_message_id
from bot.mail.headers import single_line
from bot.templating import Templates

KIND_LABELS = classify.LABELS


_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?",
                      re.ASCII)


def header_text(value: str, *, limit: int = 500) -> str:
    """Text taken from a mail, made safe for a header we write: every line break and control
    character becomes a space, runs of spaces one, cut to `limit` characters, and ``=?`` split:
    the stdlib's header policy decodes RFC 2047 words in a value it is given, so a literal
    ``=?utf-8?q?=0D=0ABcc:...?=`` would turn back into a line break when the reply is written."""
    # single_line: every line break (str.splitlines() splits on all of them) and control
    # character, the parser's own rule, applied again: defence in depth at the writing end.
    return " ".join(single_line(value).replace("=?", "= ?").split())[:limit]


def valid_message_id(value: str | None) -> str | None:
    """The value when it is a message id the parser would keep (``bot.mail.fields``: ``<left@right>``
    printable ASCII, no spaces, angle brackets or ``=?`` inside, at most 250 characters), else None."""
    return value if value and is_message_id(value) else None


def valid_address(value: str | None) -> str | None:
    if value and _ADDRESS.fullmatch(value) and ".." not in value:
        return value
    return None


def reply_subject(subject: str) -> str:
    s = header_text(subject)
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
    max_recipients: int = 5,
    remark: str = "",
) -> EmailMessage:
    """The 差戻 for `mail`. Every header taken from the mail is rebuilt from validated parts
    (subject without line breaks, Message-IDs only as ``<...@...>``), so nothing the sender
    wrote can add a header or end ours early."""
    to = valid_address(reply_recipient(mail, allowed_domains))
    if not to or not domain_allowed(to, allowed_domains):
        raise ValueError("cannot reply: neither Reply-To nor From is a plain address inside the allowed domains")
    own = {a.lower() for a in own_addresses} | {from_addr.lower(), to.lower()}
    # Replies carry customer data: they go only inside the allowed domains, to at most
    # `max_recipients` addresses, the branch manager first.
    cc: list[str] = []
    for addr in (*extra_cc, *mail.cc):
        if len(cc) + 1 >= max_recipients:
            break
        addr = valid_address(addr) or ""
        if addr and domain_allowed(addr, allowed_domains) and addr.lower() not in own \
                and addr.lower() not in (c.lower() for c in cc):
            cc.append(addr)
    body = templates.render(
        "reject.txt.j2",
        {
            "sender_name": mail.from_name,
            "kind_label": KIND_LABELS.get(decision.kind or "", "USEN SPOT 依頼"),
            "original_subject": header_text(mail.subject),
            "customer_code": decision.customer_code,
            "received_at": received_at.astimezone(tz).strftime("%Y/%m/%d %H:%M"),
            "defects_list": list(decision.defects),
            "show_subjects": UNKNOWN_KIND in decision.defect_codes,
            "prefixes": [prefix for prefix, _kind in classify.PREFIXES],
            # Each defect by its name (bot/domain/vocab.py): branches read words, not codes.
            "defect_names": dict(vocab.DEFECTS),
            # What the person who sent it back wrote (a 差戻 from the console); "" from the bot.
            "remark": remark,
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
    parent = valid_message_id(mail.message_id)
    if parent:
        msg["In-Reply-To"] = parent
        chain = [r for r in (valid_message_id(r) for r in mail.references[-10:]) if r]
        msg["References"] = " ".join((*chain, parent))
    # RFC 3834: an automatic reply says so, so other robots do not answer it.
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    # The defect codes for the admins' scripts and filters: the body names them in words.
    msg["X-USEN-SPOT-Defects"] = " ".join(dict.fromkeys(d.code for d in decision.defects))
    msg.set_content(body, charset="utf-8")
    return msg


def queue_reply(session: Session, msg: EmailMessage, *, mail_id: int, now: dt.datetime) -> OutboxMessage:
    return enqueue(session, msg, purpose="reply", now=now, mail_id=mail_id)
