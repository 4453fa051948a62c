"""`bot demo` on its embedded servers, and the committed demo mails decided as their names say."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from bot import db
from bot.commands.process import dry_run
from bot.demo import DEMO_DIR, run_demo
from bot.forms import ocr
from bot.unis import import_extract
from tests.support.app import DEFAULT_NOW, make_config

ROOT = Path(__file__).resolve().parents[1]
SCAN_MAIL = "10-rejected-scanned-no-line-type.eml"
OCR = ocr.available("jpn")  # without Tesseract the demo's scan is held for a person (manual)


def expected(name: str) -> str:
    if name == SCAN_MAIL and not OCR:
        return "manual"
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
    if path.name == SCAN_MAIL and OCR:
        assert result["defects"] == ["LINE_TYPE_MISSING"] and result["shape"] == "scanned", result


def test_demo_prints_decisions_folders_and_replies() -> None:
    out = io.StringIO()
    assert run_demo(out=out) == 0
    text = out.getvalue()
    rejected, manual = (5, 1) if OCR else (4, 2)
    assert text.count("受付 accepted") == 2
    assert text.count("差戻 rejected") == rejected
    assert "保留 manual" in text and text.count("無視 ignored") == 2
    assert "Processed 2" in text and f"Rejected {rejected}" in text and f"Manual {manual}" in text
    assert "Ignored 2" in text
    assert f"返信 replies: {rejected}" in text
    if OCR:  # the scanned form, sent back for its missing line type
        [scan_line] = [ln for ln in text.splitlines() if ln.startswith("USEN SPOT 器材発注依頼_145390992")]
        assert "差戻 rejected" in scan_line and "LINE_TYPE_MISSING" in scan_line
    assert "LINE_TYPE_MISSING" in text and "PDF_NOT_ENCRYPTED" in text and "UNKNOWN_KIND" in text
    # The accepted orders go to the vendor in the day's batch (CP932 CSV).
    assert "ベンダー発注 vendor batch" in text and "2 行 rows" in text
    assert "新規,988776654,カフェ AOYAMA" in text and "新規,410106060,スパゲティーUSEN" in text


def test_demo_mails_are_current() -> None:
    """The committed demo mails are what the generator builds (decoded subjects and names)."""
    from tests.fixtures.demo_mails import build_all

    assert sorted(build_all()) == sorted(p.name for p in DEMO_DIR.glob("*.eml"))


def _pages(raw: bytes) -> list[bytes]:
    """The page images of a mail's PDF, decrypted: what was scanned, whatever the salt."""
    import io

    import pikepdf

    from bot.mail import parse_mail

    [pdf] = parse_mail(raw).pdf_attachments()
    with pikepdf.open(io.BytesIO(pdf.data), password="uspot") as doc:
        return [bytes(img.read_raw_bytes()) for page in doc.pages for img in page.get_images().values()]


def test_demo_scan_mail_is_current() -> None:
    """The committed scan mail is what the scan generator makes from its spec: the same subject,
    body and page images (the encrypted PDF differs per run: qpdf draws a new salt)."""
    from email import message_from_bytes, policy

    from tests.fixtures.demo_mails import scanned_mail

    raw, truth = scanned_mail()
    committed = (DEMO_DIR / SCAN_MAIL).read_bytes()
    new, old = message_from_bytes(raw, policy=policy.default), message_from_bytes(committed, policy=policy.default)
    assert new["Subject"] == old["Subject"] == f"USEN SPOT 器材発注依頼_{truth['fields']['customer_code']}"
    assert new.get_body(("plain",)).get_content() == old.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert _pages(raw) == _pages(committed)
    assert truth["defects"] == ["LINE_TYPE_MISSING"]
    unis = (DEMO_DIR / "unis.csv").read_bytes().decode("cp932")
    assert f"\n{truth['fields']['customer_code']}," in unis  # so the line type is its only defect


def test_bot_demo_command_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "bot", "demo"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"返信 replies: {5 if OCR else 4}" in proc.stdout


def test_demo_with_keep_says_how_to_open_the_console_on_its_data() -> None:
    """The printed commands point at the demo's own SQLite file, which exists and has the mails."""
    import re
    import shutil

    from sqlalchemy import create_engine, text

    out = io.StringIO()
    assert run_demo(keep=True, out=out) == 0
    printed = out.getvalue()
    kept = re.search(r"^kept: (.+)$", printed, re.M)
    url = re.search(r"export BOT_DATABASE_URL=(sqlite:///\S+)", printed)
    try:
        assert kept and url and "python3 -m bot web" in printed and "users add" in printed
        engine = create_engine(url.group(1))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM mails")).scalar() == 10
        engine.dispose()
    finally:
        if kept:
            shutil.rmtree(kept.group(1), ignore_errors=True)
