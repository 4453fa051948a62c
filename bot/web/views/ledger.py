"""管理台帳: search a customer code; one customer: state, flags, history, UNIS lines, vendor rows, mails."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from bot.web.ledger_queries import CODE_LENGTH, customer, is_code, ledger_search, normalise_code
from bot.web.pages import Page, page


@page()
def ledger_search_page(p: Page) -> Response:
    typed = p.request.query_params.get("code", "")[:40]
    code = normalise_code(typed) if is_code(typed) else ""
    if len(code) == CODE_LENGTH:
        return RedirectResponse(f"/ledger/{quote(code)}", status_code=303)
    problem = ""
    if code and len(code) > CODE_LENGTH:
        problem = f"顧客コード「{typed.strip()}」が長すぎます（9桁の数字）"
        code = ""
    words = typed.strip() if not is_code(typed) else ""
    lines, total = ledger_search(p.db, code or words, cfg=p.cfg)
    return p.render("ledger_search.html", title="管理台帳", typed=typed.strip(), code=code, words=words, lines=lines,
                    total=total, problem=problem)


@page()
def ledger_customer(p: Page) -> Response:
    code = normalise_code(str(p.request.path_params.get("code", "")))
    if len(code) != CODE_LENGTH:
        return p.error(404, "顧客コードは9桁の数字です。")
    c = customer(p.db, code, cfg=p.cfg, directory=p.directory)
    status = 200 if c.found else 404
    return p.render("ledger.html", status=status, title=f"管理台帳 {code}", c=c)
