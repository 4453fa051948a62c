"""`bot demo` on its embedded servers, and the committed demo mails decided as their names say."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from bot import db
from bot.demo import DEMO_DIR, run_demo
from bot.commands.process import dry_run
from bot.unis import import_extract
from tests.support.app import DEFAULT_NOW, make_config

ROOT = Path(__file__).resolve().parents[1]


def expected(name: str) -> str:
    return name.split("-")[1]


@pytest.mark.parametrize("path", sorted(DEMO_DIR.glob("*.eml")), ids=lambda p: p.name)
def test_demo_mail_decided_as_named(path: Path, sqlite_url: str) -> None:
    cfg = make_config(sqlite_url)
    engine = db.make_engine(sqlite_url)
    factory = db.session_factory(engine)
    with db.transaction(factory) as s:
        import_extract(s, (DEMO_DIR / "unis.csv").read_bytes(), name="unis.csv", now=DEFAULT_NOW)
    with factory() as s:
        [result] = dry_run([(path.name, path.read_bytes())], cfg=cfg, session=s, now=DEFAULT_NOW)
    engine.dispose()
    assert result["decision"] == expected(path.name), result


def test_demo_prints_decisions_folders_and_replies() -> None:
    out = io.StringIO()
    assert run_demo(out=out) == 0
    text = out.getvalue()
    assert text.count("受付 accepted") == 2
    assert text.count("差戻 rejected") == 4
    assert "保留 manual" in text and text.count("無視 ignored") == 2
    assert "Processed 2" in text and "Rejected 4" in text and "Manual 1" in text and "Ignored 2" in text
    assert "返信 replies: 4" in text
    assert "LINE_TYPE_MISSING" in text and "PDF_NOT_ENCRYPTED" in text and "UNKNOWN_KIND" in text
    # The accepted orders go to the vendor in the day's batch (CP932 CSV).
    assert "ベンダー発注 vendor batch" in text and "2 行 rows" in text
    assert "新規,988776654,カフェ AOYAMA" in text and "新規,410106060,スパゲティーUSEN" in text


def test_demo_mails_are_current() -> None:
    """The committed demo mails are what the generator builds (decoded subjects and names)."""
    from tests.fixtures.demo_mails import build_all

    assert sorted(build_all()) == sorted(p.name for p in DEMO_DIR.glob("*.eml"))


def test_bot_demo_command_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "bot", "demo"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "返信 replies: 4" in proc.stdout
