"""``bot status [--json]``: is the bot healthy? Exit 0 healthy, 1 unhealthy (or the database
cannot be read), so a monitor (cron, Nagios, systemd timer) can call it. See bot/daemon/health.py."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from bot.commands.common import (
    DECISION_LABELS,
    EXIT_ERROR,
    EXIT_OK,
    CommandError,
    database,
    fail,
)
from bot.config import Config
from bot.daemon.health import DATABASE_UNAVAILABLE, Health, collect, unhealthy_json
from bot.domain import classify, vocab

KIND_LABELS = classify.LABELS
STATUS_LABELS: dict[str | None, str] = {**vocab.JOB_STATUSES, None: "未実行"}  # the office's words (bot/domain/vocab.py)
JOBS = ("vendor-batch", "digest", "retention")


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    st = sub.add_parser("status", help="health: last fetch, decisions today, outbox, quarantine, jobs; exit 1 when unhealthy")
    st.add_argument("--json", action="store_true", help="one JSON object")


def cli_status(args: argparse.Namespace, cfg: Config) -> int:
    now = dt.datetime.now(dt.UTC)
    try:
        with database(cfg, "status", "mails", "heartbeats", "job_runs") as factory, factory() as session:
            health = collect(session, now=now, tz=cfg.office.tz, jobs=JOBS, storage=True)
    except CommandError as err:
        if getattr(args, "json", False):
            print(json.dumps(unhealthy_json(DATABASE_UNAVAILABLE, str(err)), ensure_ascii=False))
        return fail(err)
    if getattr(args, "json", False):
        print(json.dumps(health.as_json(), ensure_ascii=False))
    else:
        print(render(health, cfg.office.tz))
    return EXIT_OK if health.healthy else EXIT_ERROR


def size_text(n: int) -> str:
    """Bytes as a person reads them: 1.2 GB, 350 MB, 12 KB."""
    for unit, size in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _when(moment: dt.datetime | None, tz: dt.tzinfo, now: dt.datetime) -> str:
    if moment is None:
        return "なし"
    seconds = int((now - moment).total_seconds())
    ago = f"{seconds} 秒前" if seconds < 120 else f"{seconds // 60} 分前" if seconds < 7200 else f"{seconds // 3600} 時間前"
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M:%S}（{ago}）"


def render(h: Health, tz: dt.tzinfo) -> str:
    lines = [f"USEN SPOT メールボット {h.version}: {'正常' if h.healthy else '異常'}"]
    live = [p for p in h.processes if p.alive]
    lines.append(f"稼働中のプロセス: {len(live)}")
    for p in live:
        state = vocab.PROCESS_STATES.get(p.state, p.state)
        lines.append(f"  {p.owner}  {state}{'（' + p.detail + '）' if p.detail else ''}  IDLE {'あり' if p.idle else 'なし'}  "
                     f"最終応答 {_when(p.updated_at, tz, h.now)}")
    lines.append(f"最終メール取得: {_when(h.last_fetch_at, tz, h.now)}")
    if h.left_alone:
        lines.append(f"取得しない過去のメール（[mailbox] since / max_age_days より前）: {h.left_alone} 通")
    lines.append("本日の判定:" + ("" if h.decisions_today else " なし"))
    for kind, counts in sorted(h.decisions_today.items()):
        parts = "  ".join(f"{DECISION_LABELS.get(d, d)} {n}" for d, n in sorted(counts.items()))
        lines.append(f"  {KIND_LABELS.get(kind, kind)}: {parts}")
    lines.append(f"送信箱: 未送信 {h.outbox_backlog} 通（最古 {_when(h.outbox_oldest_at, tz, h.now)}）  送信失敗 {h.outbox_failed} 通")
    lines.append(f"隔離: {h.quarantined} 通  保留（確認待ち）: {h.held} 通  業者便の送信待ち: {h.vendor_rows_waiting} 行")
    if h.database_bytes is not None:
        lines.append(f"データベースの大きさ: {size_text(h.database_bytes)}  最も古い受信メール原本: "
                     f"{h.oldest_raw_at.astimezone(tz).strftime('%Y-%m-%d') if h.oldest_raw_at else 'なし'}"
                     "（保存期間は [retention]）")
    lines.append("ジョブ:")
    for j in h.jobs:
        nxt = dt.datetime.fromisoformat(j.next_run).astimezone(tz).strftime("%Y-%m-%d %H:%M") if j.next_run else "-"
        lines.append(f"  {j.job}: 前回 {j.last_period or '-'} {STATUS_LABELS.get(j.last_status, j.last_status)}  次回 {nxt}")
    for p in h.problems:
        lines.append(f"異常: {p}")
    for n in h.notices:
        lines.append(f"確認: {n}")
    return "\n".join(lines)
