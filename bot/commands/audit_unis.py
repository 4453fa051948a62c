"""``bot audit-unis [--branch B] [--json]``: the open UNIS registration findings (manual §VIII,
FAQ 4–8; bot/unis/audit.py), per branch, new ones (first seen today) first, each with its UNIS
line and what to fix in the manual's words. ``--json``: one object per finding per line.

The findings are refreshed by every UNIS import (``bot import-unis``, the drop folder); this
command only reads. Exit 0 whether or not there are findings (a finding is work for a branch,
not a fault of the bot); 1 when the database cannot be read; 2 for bad usage."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from bot.commands.common import EXIT_OK, CommandError, database, fail
from bot.config import Config
from bot.unis.audit import BranchFindings, digest_findings


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    au = sub.add_parser("audit-unis", help="UNIS registration findings (manual §VIII): open ones, per branch, new first")
    au.add_argument("--branch", metavar="B", help="one branch (管轄支店, e.g. 渋谷支店 or 渋谷)")
    au.add_argument("--json", action="store_true", help="one JSON object per finding per line")
    au.add_argument("--historic", action="store_true",
                    help="the findings on lines done long before the audit saw them ([unis] audit_window_days)")


def cli_audit_unis(args: argparse.Namespace, cfg: Config) -> int:
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(cfg.office.tz).date()
    try:
        with database(cfg, "audit-unis", "unis_findings") as factory, factory() as session:
            branches = digest_findings(session, day=today, tz=cfg.office.tz, branch=args.branch or None,
                                       historic=bool(getattr(args, "historic", False)))
    except CommandError as err:
        return fail(err)
    if args.json:
        for group in branches:
            for finding in group.findings:
                print(json.dumps(finding.as_json(), ensure_ascii=False))
    else:
        print(render(branches, today=today, tz=cfg.office.tz, branch=args.branch,
                     historic=bool(getattr(args, "historic", False))))
    return EXIT_OK


def render(branches: list[BranchFindings], *, today: dt.date, tz: dt.tzinfo, branch: str | None = None,
           historic: bool = False) -> str:
    total = sum(len(b.findings) for b in branches)
    new = sum(b.new_count for b in branches)
    scope = f"（{branch}）" if branch else ""
    title = "UNIS登録の点検・過去の登録（支店へは通知していません）" if historic else "UNIS登録の点検"
    lines = [f"{title}{scope} {today:%Y-%m-%d}: 未対応 {total} 件（本日の新規 {new} 件）"]
    if total == 0:
        lines.append("指摘はありません。")
    for group in branches:
        if not group.findings:
            continue
        lines.append("")
        lines.append(f"■ {group.branch}: {len(group.findings)} 件（新規 {group.new_count} 件）")
        for f in group.findings:
            mark = "【新規】" if f.is_new else f"【{f.first_seen_at.astimezone(tz):%m/%d}から】"
            item = f"{f.item_code or '-'} {f.item_name or ''}".rstrip()
            lines.append(f"{mark} {f.unis_line}  {f.shop_name or ''}  品目 {item}  {f.status}  [{f.rule}]")
            lines.append(f"    {f.problem}: {f.value}")
            lines.append(f"    → {f.fix}")
    return "\n".join(lines)
