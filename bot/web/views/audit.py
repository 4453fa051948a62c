"""監査ログ (admins only): every sign-in, failed sign-in, sign-out and action, newest first."""

from __future__ import annotations

import dataclasses
import math

from starlette.responses import Response

from bot.web import audit
from bot.web.pages import Page, page
from bot.web.queries import time_label

PAGE_SIZE = 100


@page(admin=True)
def audit_log(p: Page) -> Response:
    try:
        number = max(1, int(p.request.query_params.get("page", "1")))
    except ValueError:
        number = 1
    lines, total = audit.entries(p.db, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    # A person named in a detail (ユーザー追加 of kagawa) by the name the office knows them by.
    lines = [dataclasses.replace(a, detail={**a.detail, "user": p.person(str(a.detail["user"]))})
             if "user" in a.detail else a for a in lines]
    tz = p.cfg.office.tz
    return p.render("audit.html", title="監査ログ", lines=lines, total=total, page=number,
                    pages=max(1, math.ceil(total / PAGE_SIZE)), when=lambda at: time_label(at, tz))
