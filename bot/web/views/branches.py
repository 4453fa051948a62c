"""支店: each branch's month as its manager's monthly report has it (bot/digest/monthly.py): the
requests by kind, the 差戻 rate beside the company's, the three most frequent defects with the
manual's fix; this month so far and the month before, branches by 差戻 rate."""

from __future__ import annotations

from starlette.responses import Response

from bot.digest.monthly import (
    company_rate,
    context,
    month_figures,
    month_start,
    percent,
    previous_month,
    ranked,
)
from bot.web.pages import Page, page


@page()
def branch_list(p: Page) -> Response:
    today = p.now.astimezone(p.cfg.office.tz).date()
    months = []
    for month in (month_start(today), previous_month(today)):
        figures = month_figures(p.db, cfg=p.cfg, month=month)
        company = company_rate(figures)
        months.append({"label": f"{month:%Y年%m月}", "company_rate": percent(company),
                       "branches": [context(f.branch, figures, month=month, company=company, findings=[])
                                    for f in ranked(figures)]})
    return p.render("branches.html", title="支店", months=months)
