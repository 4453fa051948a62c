"""The command line as an admin's shell meets it (issue 18, points 5 and 6): a closed pipe, a port
already taken, and logs without third-party chatter. Real processes, real pipes, real sockets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "bot" / "demo" / "mails"


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(BOT_DATABASE_URL=f"sqlite:///{tmp / 'bot.sqlite3'}", BOT_PDF_PASSWORD="uspot", **extra)
    return env


def test_a_closed_pipe_is_quiet_and_exits_as_the_shell_expects(tmp_path: Path) -> None:
    """Given `bot process … --json | head -1`: head reads one line and leaves, then the bot's
    next write meets a closed pipe: no traceback, no 失敗しました line, exit 141 (SIGPIPE's).
    The output is made longer than a pipe holds (64 KiB), so the bot is still writing when the
    pipe closes, whatever the machine's speed."""
    mails = [str(DEMO / "07-rejected-unknown-kind.eml")] * 600
    proc = subprocess.Popen([sys.executable, "-m", "bot", "process", *mails, "--dry-run", "--json",
                             "--now", "2026-11-24T10:00"], cwd=tmp_path, env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # what head does after its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert json.loads(first)["file"].endswith("07-rejected-unknown-kind.eml")
    assert "Traceback" not in err and "BrokenPipe" not in err and "失敗" not in err, err


def test_bot_web_on_a_taken_port_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "bot", "web", "--host", "127.0.0.1", "--port", str(port)],
                              cwd=tmp_path, env=_env(tmp_path, BOT_WEB_SECRET_KEY="x" * 40),
                              capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "[web] port" in proc.stderr and "使用中" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("verbose", [False, True])
def test_bot_web_logs_in_the_bots_format_without_uvicorns_chatter(tmp_path: Path, verbose: bool) -> None:
    """`bot web` with [log] format = "json": its log lines are the bot's JSON lines (uvicorn's
    access log included), and uvicorn's start-up lines and alembic's show with -v only."""
    config = tmp_path / "config.toml"
    config.write_text('[log]\nformat = "json"\n', encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [sys.executable, "-m", "bot", "--config", str(config), *(["-v"] if verbose else []),
            "web", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(args, cwd=tmp_path, env=_env(tmp_path, BOT_WEB_SECRET_KEY="x" * 40),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "コンソール" in proc.stdout.readline()
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                    conn.sendall(b"GET /login HTTP/1.0\r\nHost: x\r\n\r\n")
                    assert conn.recv(100).startswith(b"HTTP/1.1 200")
                break
            except ConnectionRefusedError:
                time.sleep(0.1)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    # Once the config is read ([log] format), every line is one of the bot's JSON lines (with -v
    # the config loader's own debug line comes before that, in the plain format).
    start = next(i for i, ln in enumerate(lines) if ln.startswith("{"))
    records = [json.loads(ln) for ln in lines[start:]]
    loggers = {r["logger"] for r in records}
    assert "uvicorn.access" in loggers, records
    assert any("/login" in r["message"] for r in records if r["logger"] == "uvicorn.access")
    chatty = {name for name in loggers if name.startswith(("alembic", "uvicorn.error"))}
    assert bool(chatty) == verbose, loggers
