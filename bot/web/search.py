"""Search that finds what the office types (issue 21 point 4).

Words are folded with NFKC and lower-cased on both sides, so ９８９４９０７５３ finds 989490753 and
ｶﾌｪ finds カフェ. The キーワード box searches a mail's subject, sender, body text and attachment
names (:class:`bot.db.models.MailText`, filled here from the stored raw mail the first time a
search needs it), its customer code, and the shop name the ledger and UNIS hold for that code.
A branch matches by part of its name (「福岡」 finds 福岡支店): the body's 送付支店名, the branch
directory, UNIS's 管轄支店 for the mail's customer code, and the sender's domain label.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.config import Config
from bot.db.models import LedgerEntry, Mail, MailText, UnisOrder
from bot.mail.parse import parse_mail

log = logging.getLogger("bot.web.search")

INDEX_BATCH = 200  # mails read per transaction while filling mail_texts


def fold(text: str) -> str:
    """NFKC, lower case, spaces squeezed: the form both the stored text and the query take."""
    return " ".join(unicodedata.normalize("NFKC", text or "").lower().split())


def like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def mail_text(m: Mail, cfg: Config) -> str:
    """What the search reads of one mail (a mail that does not parse: its subject and sender)."""
    parts = [m.subject or "", m.from_addr or "", m.message_id or ""]
    try:
        inbound = parse_mail(m.raw, cfg.limits)
        parts += [inbound.body_text, *(a.filename or "" for a in inbound.attachments)]
    except Exception as err:  # noqa: BLE001 - a mail we cannot parse is still found by its subject
        log.info("mail %s: body not indexed for search: %s", m.id, err)
    return fold("\n".join(parts))


def index_missing(write: sessionmaker[Session], read: Session, cfg: Config) -> int:
    """Fill mail_texts for every mail that has none yet; returns how many were added."""
    added = 0
    while True:
        ids = list(read.scalars(select(Mail.id).where(Mail.id.not_in(select(MailText.mail_id)))
                                .order_by(Mail.id).limit(INDEX_BATCH)))
        if not ids:
            return added
        with db.transaction(write) as w:
            known = set(w.scalars(select(MailText.mail_id).where(MailText.mail_id.in_(ids))))
            for m in w.scalars(select(Mail).where(Mail.id.in_(ids))):
                if m.id not in known:
                    w.add(MailText(mail_id=m.id, text=mail_text(m, cfg)))
                    added += 1
        read.expire_all()
        read.rollback()  # see the rows just written (SQLite: a new read transaction)
        if len(ids) < INDEX_BATCH:
            return added


def keyword_condition(q: str) -> ColumnElement[bool]:
    """Mails whose text, customer code or shop name holds `q` (folded)."""
    folded = fold(q)
    if not folded:
        return false()
    pattern = like(folded)
    digits = "".join(c for c in folded if c.isdigit())
    shops = or_(LedgerEntry.shop_name.ilike(pattern, escape="\\"), LedgerEntry.shop_name.ilike(like(q), escape="\\"))
    unis_shops = or_(UnisOrder.shop_name.ilike(pattern, escape="\\"), UnisOrder.shop_name.ilike(like(q), escape="\\"))
    conds: list[ColumnElement[bool]] = [
        Mail.id.in_(select(MailText.mail_id).where(MailText.text.like(pattern, escape="\\"))),
        Mail.subject.icontains(q, autoescape=True),
        Mail.customer_code.in_(select(LedgerEntry.customer_code).where(shops)),
        Mail.customer_code.in_(select(UnisOrder.customer_code).where(unis_shops)),
    ]
    if digits and digits == folded.replace(" ", "").replace("-", ""):
        conds.append(Mail.customer_code.like(like(digits), escape="\\"))
    return or_(*conds)


def branch_condition(branch: str, cfg: Config, directory: Sequence[tuple[str, str]]) -> ColumnElement[bool]:
    """The mails of a branch named in part: 「福岡」 finds 福岡支店 (see the module doc)."""
    text = fold(branch)
    if not text:
        return false()
    pattern = like(text)
    conds: list[ColumnElement[bool]] = [Mail.facts["branch"].as_string().ilike(pattern, escape="\\"),
                                        Mail.customer_code.in_(select(UnisOrder.customer_code)
                                                               .where(UnisOrder.branch.ilike(pattern, escape="\\")))]
    for domain, name in directory:
        if text in fold(name):
            conds += [Mail.from_addr.ilike(f"%@{domain}", escape="\\"), Mail.from_addr.ilike(f"%.{domain}", escape="\\")]
    if text.isascii() and "@" not in text:
        label = text.strip(".")
        conds.append(or_(Mail.from_addr.ilike(f"%@{label}.%", escape="\\"),
                         Mail.from_addr.ilike(f"%@%{label}%", escape="\\")) if "." in label
                     else Mail.from_addr.ilike(f"%@{label}.%", escape="\\"))
    return or_(*conds)
