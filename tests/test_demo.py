"""`bot demo` on its embedded servers, and the committed demo mails decided as their names say."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot import db
from bot.commands.process import dry_run
from bot.demo.run import DEMO_CORPORATE, DEMO_DIR, DEMO_ROLES, run_demo
from bot.unis import import_extract
from tests.support.app import DEFAULT_NOW, make_config

ROOT = Path(__file__).resolve().parents[1]
SCAN_MAIL = "10-rejected-scanned-no-line-type.eml"


def expected(name: str) -> str:
    return name.split("-")[1]


MAILS = sorted(DEMO_DIR.glob("*.eml"))


def expected_counts() -> Counter[str]:
    """Decisions by file name: a mail added later (EXTRA_MAILS) changes the counts, not the test."""
    return Counter(expected(p.name) for p in MAILS)


@pytest.fixture(scope="module")
def demo_output() -> str:
    """One demo run, read by several tests (it takes a few seconds)."""
    out = io.StringIO()
    assert run_demo(out=out) == 0
    return out.getvalue()


def table(text: str) -> list[str]:
    """The decision table's rows (between the dashed rule and the first blank line)."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("-----")) + 1
    return lines[start:lines.index("", start)]


@pytest.mark.parametrize("path", MAILS, ids=lambda p: p.name)
def test_demo_mail_decided_as_named(path: Path, sqlite_url: str) -> None:
    cfg = make_config(sqlite_url)
    cfg = cfg.replace(corporate=DEMO_CORPORATE, senders=dataclasses.replace(cfg.senders, **DEMO_ROLES))
    engine = db.make_engine(sqlite_url)
    factory = db.session_factory(engine)
    with db.transaction(factory) as s:
        import_extract(s, (DEMO_DIR / "unis.csv").read_bytes(), name="unis.csv", now=DEFAULT_NOW)
    with factory() as s:
        [result] = dry_run([(path.name, path.read_bytes())], cfg=cfg, session=s, now=DEFAULT_NOW)
    engine.dispose()
    assert result["decision"] == expected(path.name), result
    if path.name == SCAN_MAIL:  # the OCR engine is a pip dependency: always there
        assert result["defects"] == ["LINE_TYPE_MISSING"] and result["shape"] == "scanned", result
    if "corporate" in path.name:
        assert result["kind"] == "corporate_order", result
    if path.name == "12-rejected-corporate-list.eml":  # two bad rows, one defect each
        assert result["defects"] == ["CORPORATE_ROW_INVALID", "CORPORATE_ROW_INVALID"], result


def test_demo_prints_decisions_folders_and_replies(demo_output: str) -> None:
    text = demo_output
    counts = expected_counts()
    rows = table(text)
    assert len(rows) == len(MAILS)
    for decision, label in (("accepted", "受付 accepted"), ("rejected", "差戻 rejected"), ("manual", "保留 manual"),
                            ("ignored", "対象外 ignored")):
        assert sum(label in row for row in rows) == counts[decision], (decision, rows)
    assert f"Processed {counts['accepted']}" in text and f"Rejected {counts['rejected']}" in text
    assert f"Manual {counts['manual']}" in text and f"Ignored {counts['ignored']}" in text
    # every 差戻, and the corporate list to 登録G
    assert f"返信 replies: {counts['rejected'] + 1}" in text
    # the scanned form, sent back for its missing line type
    [scan_line] = [ln for ln in rows if ln.startswith("USEN SPOT 器材発注依頼_145390992")]
    assert "差戻 rejected" in scan_line and "LINE_TYPE_MISSING" in scan_line
    assert "LINE_TYPE_MISSING" in text and "PDF_NOT_ENCRYPTED" in text and "UNKNOWN_KIND" in text
    # The manual's second part (issue 23): a 顧客情報変更 taken, a branch's ルーター交換依頼 sent back
    # for who sent it (its wording: tests/test_kinds_part2.py).
    [change] = [ln for ln in rows if ln.startswith("USEN SPOT 顧客情報変更_988776654")]
    assert "受付 accepted" in change
    [exchange] = [ln for ln in rows if ln.startswith("USEN SPOT ルーター交換依頼_988776659")]
    assert "差戻 rejected" in exchange and "SENDER_NOT_PERMITTED" in exchange and "STATE_CONFLICT" not in exchange
    # The accepted orders go to the vendor in the day's batch (CP932 CSV); the corporate routers
    # in their own file.
    assert "ベンダー発注 vendor batch" in text and "8 行 rows (新規 2, 変更 1, 法人新規 5)" in text
    assert "新規,988776654,カフェ AOYAMA" in text and "新規,410106060,スパゲティーUSEN" in text


def test_demo_shows_the_corporate_orders_end_to_end(demo_output: str) -> None:
    """The good .xlsx list: 5 routers numbered, kept apart in the vendor batch, the list mailed
    to 登録G; the bad CP932 .csv: one 差戻 naming both bad rows and their columns."""
    text = demo_output
    rows = table(text)
    [good] = [r for r in rows if "法人一括発注依頼 ひまわり珈琲" in r]
    assert "受付 accepted" in good and "管理番号 100001–100005" in good and "登録Gへ送付" in good
    [bad] = [r for r in rows if "法人一括発注依頼 もみじ食堂" in r]
    assert "差戻 rejected" in bad and "CORPORATE_ROW_INVALID ×2" in bad
    # the vendor batch: the corporate CSV, one row per router with its number and role
    assert "usen_spot_houjin_" in text
    corporate_rows = [ln for ln in text.splitlines() if ln.startswith("  | 法人新規,")]
    assert [ln.split(",")[-3:-1] for ln in corporate_rows] == [
        ["100001", "親機"], ["100002", "子機"], ["100003", "子機"], ["100004", "親機"], ["100005", "親機"]]
    assert not any(ln.startswith("  | 新規,") and "ひまわり" in ln for ln in text.splitlines())
    assert "地区営業の発注とは分けて、別ファイル「usen_spot_houjin_" in text  # the vendor mail says so
    # the list reached 登録G (received by the SMTP server), with every number
    [to_registration] = [ln for ln in text.splitlines() if ln.startswith("  → touroku-g@usen.co.jp")]
    assert "UNIS受注登録のお願い（3設置先・5台）" in to_registration
    listed = [ln for ln in text.splitlines() if ln.startswith("    | ") and "ひまわり珈琲" in ln]
    assert [ln.split(",")[1] for ln in listed] == ["100001", "100002", "100003", "100004", "100005"]
    # the bad list's 差戻, to 法人営業, naming each row and column
    assert "  → tanaka@hojin.usen.co.jp: Re: USEN SPOT 法人一括発注依頼 もみじ食堂" in text
    assert "【法人顧客リストの行に誤り】顧客リスト 3行目「電話番号」：空欄です" in text
    assert "【法人顧客リストの行に誤り】顧客リスト 4行目「SSID」：「ｍｏｍｉｊｉ」に半角以外の文字" in text


def test_demo_shows_the_unis_audit_per_branch(demo_output: str) -> None:
    """The demo's UNIS extract has lines that break §VIII rules: after the import, each is listed
    under its branch with its rule id, its UNIS line and the manual's fix."""
    from bot.unis.rules import FIXES
    from tests.fixtures.demo_mails import UNIS_AUDIT_CASES

    text = demo_output
    cases = [(rule, line.split(",")) for rule, line in UNIS_AUDIT_CASES if rule]
    assert f"UNIS登録チェック UNIS audit: {len(cases)} 件" in text
    section = text[text.index("UNIS登録チェック"):text.index("最初の差戻メール")]
    assert "■ 渋谷支店: 2 件" in section and "■ 福岡支店: 2 件" in section
    for rule, cells in cases:
        unis_line = f"[{rule}] 顧客番号 {cells[0]} 契約番号 {cells[1]} 明細番号 {cells[2]}"
        assert unis_line in section, rule
        branch = f"■ {cells[7]}"
        assert section.index(branch) < section.index(unis_line), rule  # under its own branch
        assert f"→ {FIXES[rule]}" in section, rule
    assert "UNIS_NO_PARENT_LINE" not in section  # 親機 in the serial says where the word must go


def test_demo_shows_the_integrated_form_sent_back_for_its_unticked_spot_row(demo_output: str) -> None:
    """Mail 13 is a typed 統合申込書 with only USEN SPOT Tourist ticked: the demo shows it sent back
    with the sentence the branch reads."""
    section = demo_output[demo_output.index("統合申込書 integrated application form"):
                          demo_output.index("UNIS登録チェック")]
    assert "差戻 rejected: USEN SPOT 器材発注依頼_988776658" in section
    assert "【統合申込書のUSEN SPOT欄にチェックなし】統合申込書の「USEN SPOT」欄にチェックがありません" in section
    assert "「USEN SPOT Tourist」は別のサービスです" in section


def test_demo_mails_are_current() -> None:
    """The committed demo mails are what the generator builds (decoded subjects and names)."""
    from tests.fixtures.demo_mails import build_all

    assert sorted(build_all()) == sorted(p.name for p in DEMO_DIR.glob("*.eml"))


def _pages(raw: bytes) -> list[Any]:
    """The page images of a mail's PDF, decrypted and decoded to pixels (numpy arrays): what
    was scanned, whatever the salt and whichever JPEG encoder wrote them."""
    import io

    import numpy as np
    import pikepdf

    from bot.mail import parse_mail

    [pdf] = parse_mail(raw).pdf_attachments()
    with pikepdf.open(io.BytesIO(pdf.data), password="uspot") as doc:
        return [np.asarray(pikepdf.PdfImage(img).as_pil_image().convert("L"), dtype=np.int16)
                for page in doc.pages for img in page.get_images().values()]


def test_demo_scan_mail_is_current() -> None:
    """The committed scan mail is what the scan generator makes from its spec: the same subject,
    body and page images. The images are compared as pixels within a tolerance, never as bytes:
    the encrypted PDF differs per run (qpdf draws a new salt), and the JPEG bytes differ with the
    installed OpenCV / Pillow / numpy (issue 17). A changed spec (another value, another mark,
    another warp) moves far more than the tolerance."""
    from email import message_from_bytes, policy

    from tests.fixtures.demo_mails import scanned_mail

    raw, truth = scanned_mail()
    committed = (DEMO_DIR / SCAN_MAIL).read_bytes()
    new, old = message_from_bytes(raw, policy=policy.default), message_from_bytes(committed, policy=policy.default)
    assert new["Subject"] == old["Subject"] == f"USEN SPOT 器材発注依頼_{truth['fields']['customer_code']}"
    assert new.get_body(("plain",)).get_content() == old.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    made, kept = _pages(raw), _pages(committed)
    assert [p.shape for p in made] == [p.shape for p in kept]
    for page, (a, b) in enumerate(zip(made, kept, strict=True), 1):
        diff = abs(a - b)
        # Encoder noise is a grey level or two on average; a moved or changed value is not.
        assert diff.mean() < 2.0 and (diff > 64).mean() < 0.002, (page, diff.mean(), (diff > 64).mean())
    assert truth["defects"] == ["LINE_TYPE_MISSING"]
    unis = (DEMO_DIR / "unis.csv").read_bytes().decode("cp932")
    assert f"\n{truth['fields']['customer_code']}," in unis  # so the line type is its only defect


def test_bot_demo_command_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "bot", "demo"], check=False, capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"返信 replies: {expected_counts()['rejected'] + 1}" in proc.stdout
    assert "UNIS登録チェック UNIS audit:" in proc.stdout


def test_demo_with_keep_says_how_to_open_the_console_on_its_data() -> None:
    """The printed commands point at the demo's own SQLite file, which exists and has the mails."""
    import re
    import shutil

    from sqlalchemy import create_engine, text

    out = io.StringIO()
    assert run_demo(keep=True, out=out) == 0
    printed = out.getvalue()
    kept = re.search(r"^kept: (.+)$", printed, re.MULTILINE)
    url = re.search(r"export BOT_DATABASE_URL=(sqlite:///\S+)", printed)
    try:
        assert kept and url and "python3 -m bot web" in printed and "users add" in printed
        engine = create_engine(url.group(1))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM mails")).scalar() == len(MAILS)
        engine.dispose()
    finally:
        if kept:
            shutil.rmtree(kept.group(1), ignore_errors=True)
