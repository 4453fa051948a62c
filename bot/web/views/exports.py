"""CSV downloads of 受信一覧 (``/mails.csv``) and 保留 (``/manual.csv``), with the filters of
the page the link sits on (the same query string). A list leaving the console is a copy of
customer data: each download leaves an audit row naming the list, its filters and its size."""

from __future__ import annotations

from starlette.responses import Response

from bot.web import audit, exports
from bot.web.pages import Page, client_ip, page
from bot.web.queries import HOLD_REASONS, MailFilter, held_page, mail_rows


def _download(p: Page, data: bytes, *, stem: str, ascii_stem: str, rows: int, total: int,
              filters: dict[str, str]) -> Response:
    assert p.user is not None
    with p.console.transaction() as w:
        audit.record(w, action=audit.LIST_EXPORT, at=p.now, username=p.user.username, user_id=p.user.id,
                     ip=client_ip(p.request), detail={"list": stem, "rows": rows, "matched": total, **filters})
    day = p.now.astimezone(p.cfg.office.tz).date()
    return Response(data, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": exports.disposition(stem, ascii_stem, day),
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})


@page()
def mails_csv(p: Page) -> Response:
    f = MailFilter.parse(p.request.query_params)
    if f.problems:
        return p.error(400, "絞り込みの条件が読めません：" + "、".join(f.problems))
    rows, total = mail_rows(p.db, f, cfg=p.cfg, directory=p.directory, write=p.console.write, limit=exports.MAX_ROWS)
    lines = list(exports.mail_lines(rows))
    if total > len(rows):
        lines.append(exports.more_line(len(exports.MAIL_HEADER), len(rows), total))
    filters = {k: v for k, v in f.query().items() if k != "page"}
    return _download(p, exports.csv_bytes(exports.MAIL_HEADER, lines), stem="受信一覧", ascii_stem="mails",
                     rows=len(rows), total=total, filters=filters)


@page()
def manual_csv(p: Page) -> Response:
    reason = p.request.query_params.get("reason", "")
    reason = reason if reason in HOLD_REASONS else ""
    rows, counts = held_page(p.db, cfg=p.cfg, now=p.now, directory=p.directory, reason=reason,
                             limit=exports.MAX_ROWS)
    total = counts[reason] if reason else sum(counts.values())
    lines = list(exports.held_lines(rows, p.person))
    if total > len(rows):
        lines.append(exports.more_line(len(exports.HELD_HEADER), len(rows), total))
    return _download(p, exports.csv_bytes(exports.HELD_HEADER, lines), stem="保留", ascii_stem="held",
                     rows=len(rows), total=total, filters={"hold_reason": reason} if reason else {})
