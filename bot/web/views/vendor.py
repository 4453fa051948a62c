"""ベンダー: the batches (newest first), one batch's rows, its CSV files exactly as the vendor
mail carried them (download), and the rows waiting for the next batch (申込書参照 marked).

The downloads are the attachment bytes of the stored outbox message (what SMTP was given),
never rebuilt from the rows: a later change to a row or the template cannot alter them. Each
download is an audit row (who took which batch's file); page views are not audited.
"""

from __future__ import annotations

from starlette.responses import Response

from bot.web import audit
from bot.web.ledger_queries import batch_file, batch_view, batches, pending_rows
from bot.web.pages import Page, client_ip, page

FILE_KINDS = {"csv": "発注データ", "corporate": "法人一括発注データ（地区営業分と別ファイル）", "ledger": "管理台帳 日次共有"}
FILE_ROUTES = {"csv": "csv", "corporate": "houjin-csv", "ledger": "ledger-csv"}


def _int(value: str, default: int = 1) -> int:
    try:
        return max(1, min(int(value), 1_000_000))
    except ValueError:
        return default


@page()
def vendor_home(p: Page) -> Response:
    lines, total, number, pages = batches(p.db, cfg=p.cfg, page=_int(p.request.query_params.get("page", "1")))
    pending = pending_rows(p.db, cfg=p.cfg)
    return p.render("vendor.html", title="ベンダー", lines=lines, total=total, page=number, pages=pages,
                    pending=pending, refer_rows=sum(1 for r in pending if r.refer_count))


@page()
def vendor_batch(p: Page) -> Response:
    view = batch_view(p.db, int(p.request.path_params["batch_id"]), cfg=p.cfg)
    if view is None:
        return p.error(404, "指定の便は見つかりません。")
    return p.render("vendor_batch.html", title=f"業者便 #{view.line.id}（{view.line.day}）", v=view,
                    kinds=FILE_KINDS, routes=FILE_ROUTES)


def _download(p: Page, kind: str) -> Response:
    found = batch_file(p.db, int(p.request.path_params["batch_id"]), kind, cfg=p.cfg)
    if found is None:
        return p.error(404, "この便のCSVは見つかりません（送信箱にメールがありません）。")
    # The name is the bot's own (usen_spot_YYYYMMDD.csv): ASCII, no quoting needed.
    name = "".join(c for c in found.filename if c.isascii() and (c.isalnum() or c in "._-")) or "vendor.csv"
    assert p.user is not None
    with p.console.transaction() as w:
        audit.record(w, action=audit.VENDOR_CSV_DOWNLOAD, at=p.now, username=p.user.username, user_id=p.user.id,
                     ip=client_ip(p.request), detail={"batch": int(p.request.path_params["batch_id"]),
                                                      "file": FILE_KINDS.get(kind, kind), "filename": name,
                                                      "bytes": len(found.data)})
    return Response(found.data, media_type=found.content_type, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store", "Content-Security-Policy": "default-src 'none'; sandbox"})


@page()
def vendor_csv(p: Page) -> Response:
    return _download(p, "csv")


@page()
def vendor_ledger_csv(p: Page) -> Response:
    return _download(p, "ledger")


@page()
def vendor_corporate_csv(p: Page) -> Response:
    return _download(p, "corporate")
