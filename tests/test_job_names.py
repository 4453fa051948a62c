"""Every job the daemon schedules or records has a Japanese name (bot/domain/vocab.py JOBS): the
console's status page and `bot status` name jobs to the office, and an id without a name there
shows as 「その他のジョブ」 (as the retention job did)."""

from __future__ import annotations

import ast
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from bot import jobs
from bot.daemon import main as daemon_module
from bot.daemon.main import Daemon
from bot.domain import vocab
from tests.support.app import make_config

BOT = Path(__file__).resolve().parents[1] / "bot"


def _value(node: ast.expr, where: str) -> str:
    """A job id written in the code: a string, or a constant of bot/jobs/__init__.py (``jobs.RETENTION``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "jobs":
        return str(getattr(jobs, node.attr))
    raise AssertionError(f"{where}: a job id the test cannot read ({ast.unparse(node)}); name it in bot/jobs/__init__.py")


def ids_in_the_code() -> set[str]:
    """Every ``add_job(..., id=…)`` (the scheduler, including the jobs `run()` adds itself) and
    every ``run_once(factory, JOB, …)`` (a recorded run) under bot/."""
    found: set[str] = set()
    for path in sorted(BOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            where = f"{path.relative_to(BOT.parent)}:{node.lineno}"
            if node.func.attr == "add_job":
                found |= {_value(k.value, where) for k in node.keywords if k.arg == "id"}
            elif node.func.attr == "run_once" and len(node.args) >= 2:
                found.add(_value(node.args[1], where))
    return found


def test_every_registered_job_has_a_japanese_name(sqlite_url: str) -> None:
    daemon = Daemon(make_config(sqlite_url))
    scheduler = BackgroundScheduler(timezone="Asia/Tokyo")
    daemon.schedule(scheduler)
    daemon.catch_up(scheduler)
    registered = {job.id for job in scheduler.get_jobs()}
    daemon.engine.dispose()
    in_code = ids_in_the_code()
    assert registered <= in_code and {"heartbeat", "watchdog", jobs.RETENTION} <= in_code  # the scan sees them all
    every = registered | in_code | set(daemon_module.JOBS)
    missing = sorted(job_id for job_id in every if not vocab.job_name(job_id))
    assert missing == [], f"job ids without a Japanese name in bot/domain/vocab.py JOBS: {missing}"
    assert vocab.job_name(jobs.RETENTION) == "保存期間の整理"
    assert vocab.job_name("retention-catch-up") == "保存期間の整理（起動時の取り戻し）"
    assert vocab.job_name("no-such-job") is None
