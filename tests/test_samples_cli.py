"""Tried as a new user would: each shared sample form, attached to a branch's 器材発注依頼 mail
as the manual tells them to write it, through `bot process --dry-run --json`, gives the
decision and defects DESIGN.md and the samples' README predict."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.demo_mails import UNIS_CSV, order_body
from tests.support.mailbuilder import build_mail

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "forms" / "samples"

# sample → (customer code in the form, SPOT Plus該当 in the body, expected decision, defects)
EXPECTED = {
    "typed-hikari-next-password-is-uspot.pdf": ("988776654", "無", "accepted", []),
    "typed-bflets-family-cidfont-password-is-uspot.pdf": ("410106060", "無", "accepted", []),
    "typed-bflets-no-type-password-is-uspot.pdf": ("988776654", "無", "rejected", ["LINE_TYPE_MISSING"]),
    "fillable-plus-password-is-uspot.pdf": ("988776654", "有", "accepted", []),
    "scanned-password-is-uspot.pdf": ("988776654", "無", "manual", []),
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    if not SAMPLES.is_dir():
        pytest.skip(f"shared samples not found at {SAMPLES}")
    tmp = tmp_path_factory.mktemp("samples-cli")
    env = dict(os.environ, BOT_DATABASE_URL=f"sqlite:///{tmp / 'bot.sqlite3'}")
    env.pop("BOT_CONFIG", None)
    unis = tmp / "unis.csv"
    unis.write_bytes(UNIS_CSV.encode("cp932"))
    subprocess.run([sys.executable, "-m", "bot", "import-unis", str(unis)], check=True, env=env, cwd=tmp,
                   capture_output=True, timeout=120)
    for name, (code, plus, _decision, _defects) in EXPECTED.items():
        raw = build_mail(f"USEN SPOT 器材発注依頼_{code}", order_body(code, plus=plus), charset="cp50220",
                         attachments=[(name, (SAMPLES / name).read_bytes(), "application/pdf")],
                         message_id=f"<{name}@aoyama.usen.co.jp>")
        (tmp / f"{name}.eml").write_bytes(raw)
    return tmp, env


def test_each_shared_sample_decides_as_predicted(prepared: tuple[Path, dict[str, str]]) -> None:
    tmp, env = prepared
    files = [str(tmp / f"{name}.eml") for name in EXPECTED]
    proc = subprocess.run([sys.executable, "-m", "bot", "process", *files, "--dry-run", "--json",
                           "--now", "2026-11-24T10:00:00+09:00"], env=env, cwd=tmp, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    results = {Path(r["file"]).name.removesuffix(".eml"): r for r in map(json.loads, proc.stdout.splitlines())}
    for name, (code, _plus, decision, defects) in EXPECTED.items():
        got = results[name]
        assert (got["kind"], got["customer_code"]) == ("equipment_order", code)
        assert (got["decision"], got["defects"]) == (decision, defects), (name, got)
        assert set(got) >= {"file", "message_id", "kind", "customer_code", "decision", "defects", "warnings"}
