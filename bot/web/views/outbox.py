"""送信箱 (admins only): the mails the bot sends (差戻返信, 業者便, 日次レポート), the failed and
retrying ones first (:func:`bot.actions.outbox.problems`, as ``bot outbox list``), then all of them
newest first; and 再送: :func:`bot.actions.outbox.requeue` (``bot outbox requeue ID``'s function: the
stored bytes, the same Message-ID, pending with no attempt counted) in one transaction with its
audit row. The console does not send: the daemon's flusher picks the row up within a minute.
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from bot.actions import outbox
from bot.db.models import OutboxMessage
from bot.web import audit
from bot.web.ops_queries import last_line, outbox_line, outbox_page, outbox_problems
from bot.web.pages import Page, client_ip, page
from bot.web.queries import time_label
from bot.web.views.status import forget_health


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _page_number(p: Page) -> int:
    try:
        return max(1, min(int(p.request.query_params.get("page", "1")), 1_000_000))
    except ValueError:
        return 1


@page(admin=True)
def outbox_list(p: Page) -> Response:
    return _show(p)


def _show(p: Page, *, refused: str = "", status: int = 200) -> Response:
    tz = p.cfg.office.tz
    problems = outbox_problems(p.db, tz=tz)
    lines, total, number, pages = outbox_page(p.db, tz=tz, page=_page_number(p))
    done = None
    try:
        done_id = int(p.request.query_params.get("done", ""))
    except ValueError:
        done_id = 0
    if done_id:
        done = outbox_line(p.db, done_id, tz=tz)  # read back from the row, never text from the URL
    return p.render("outbox.html", title="送信箱", problems=problems, lines=lines, total=total, page=number,
                    pages=pages, done=done, refused=refused, status=status)


@page(admin=True)
def requeue(p: Page) -> Response:
    assert p.user is not None
    row_id = int(p.request.path_params["row_id"])
    try:
        with p.console.transaction() as w:
            # Locked: a flusher claiming it at this moment, or a second click, waits for us.
            row = w.scalar(select(OutboxMessage).where(OutboxMessage.id == row_id).with_for_update())
            if row is None:
                raise _Refused(404, f"送信箱 #{row_id} は見つかりません。")
            _check(row, p)
            before = {"status": row.status, "attempts": row.attempts, "last_error": last_line(row.last_error)}
            outbox.requeue(w, row_id, now=p.now)
            audit.record(w, action=audit.OUTBOX_REQUEUE, at=p.now, username=p.user.username, user_id=p.user.id,
                         mail_id=row.mail_id, ip=client_ip(p.request),
                         detail={"outbox_id": row_id, "purpose": row.purpose, "subject": row.subject,
                                 "to": list(row.rcpt_to or []), "before": before})
    except _Refused as err:
        return _show(p, refused=str(err), status=err.status)
    forget_health(p)
    return RedirectResponse(f"/outbox?done={row_id}", status_code=303)


def _check(row: OutboxMessage, p: Page) -> None:
    """Only a row the server refused: sent is done; a claim still within its lease belongs to a
    flusher sending it right now (requeueing it could send it twice); a pending row nobody
    refused yet (a second click, too) goes out by itself."""
    if row.status == outbox.SENT:
        raise _Refused(409, f"送信箱 #{row.id} は送信済みです（{time_label(row.sent_at, p.cfg.office.tz)}）。")
    if row.status == outbox.SENDING and row.claimed_at is not None and p.now - row.claimed_at < outbox.CLAIM_LEASE:
        raise _Refused(409, f"送信箱 #{row.id} は今まさに送信中です。しばらくしてから状態を確認してください。")
    if row.status == outbox.PENDING and (row.last_error is None or not row.attempts):
        # Never refused yet (new, requeued, or only the server was away): the flusher sends it.
        raise _Refused(409, f"送信箱 #{row.id} は送信待ちです（まだ送信を断られていません）。ボットが1分以内に送ります。")
