"""Where a 差戻 stands, for the staff who sent it (without the admins' 送信箱): 送信待ち,
送信中, 送信済, 再送待ち (the server refused it; when the next try is) or 送信失敗 (an admin
sends it again), read from its outbox row; and the 差戻 people sent lately."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.actions import outbox
from bot.db.models import Mail, OutboxMessage

RECENT_DAYS = 7
RECENT_LIMIT = 20


@dataclass(frozen=True)
class ReplyState:
    label: str  # 送信待ち / 送信中 / 送信済 / 再送待ち / 送信失敗
    css: str  # badge class
    note: str  # what it means for the person, with the time


def reply_state(o: OutboxMessage, tz: dt.tzinfo) -> ReplyState:
    def at(moment: dt.datetime | None) -> str:
        return moment.astimezone(tz).strftime("%m/%d %H:%M") if moment else ""

    if o.status == outbox.SENT:
        return ReplyState("送信済", "ok", f"{at(o.sent_at)} に送信しました。")
    if o.status == outbox.SENDING:
        return ReplyState("送信中", "hold", "いま送信しています。")
    if o.status == outbox.FAILED:
        return ReplyState("送信失敗", "bad", f"{o.attempts}回送信を試みましたが、送信できませんでした。管理者が送信箱から再送します。")
    if o.attempts:
        when = f"次の送信は {at(o.next_attempt_at)} ごろです。" if o.next_attempt_at else ""
        return ReplyState("再送待ち", "hold", f"送信先のサーバーが受け取らなかったため、自動で送り直します（{o.attempts}回失敗）。{when}")
    return ReplyState("送信待ち", "hold", "まもなく送信されます（1分ほど）。")


def latest_reply(session: Session, mail_id: int) -> OutboxMessage | None:
    return session.scalar(select(OutboxMessage).where(OutboxMessage.mail_id == mail_id, OutboxMessage.purpose == "reply")
                          .order_by(OutboxMessage.id.desc()).limit(1))


@dataclass(frozen=True)
class SentBack:
    mail_id: int
    subject: str
    by: str
    at: str
    state: ReplyState


def recent_rejections(session: Session, *, now: dt.datetime, tz: dt.tzinfo) -> Sequence[SentBack]:
    """The 差戻 people sent from the console lately (newest first), each with its mail's state."""
    since = now - dt.timedelta(days=RECENT_DAYS)
    rows = session.execute(
        select(Mail.id, Mail.subject, Mail.resolved_by, Mail.resolved_at, OutboxMessage)
        .join(OutboxMessage, (OutboxMessage.mail_id == Mail.id) & (OutboxMessage.purpose == "reply"))
        .where(Mail.resolved_at >= since, Mail.decision == "rejected")
        .order_by(Mail.resolved_at.desc(), OutboxMessage.id.desc()).limit(RECENT_LIMIT)).all()
    seen: set[int] = set()
    out = []
    for mail_id, subject, by, at, o in rows:
        if mail_id in seen:
            continue
        seen.add(mail_id)
        out.append(SentBack(mail_id, subject or "（件名なし）", by or "", at.astimezone(tz).strftime("%m/%d %H:%M"),
                            reply_state(o, tz)))
    return out
