"""Scenarios for the rule tests: one world of customers in every ledger state, REAL mails and
REAL encrypted PDFs, and `bot process --dry-run --json` run as a subprocess on many files at once.

The world (DESIGN.md "Data the bot reads"): a UNIS extract loaded by `bot import-unis`, whose
customer codes stand for the situations a rule looks at (ordered, installed, termination
scheduled, terminated, cancelled, corporate, unknown), and a branch directory (支店名,ドメイン,
支店長) so CC_MANAGER_MISSING is live for every mail: a mail that should pass copies the manager.

    rows = [Row("happy", order(), "accepted")]
    results = run_dry(tmp, rows, env=cli_env(url, branches))
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.fixtures import pdfs
from tests.support.mailbuilder import build_mail

PDF = "application/pdf"
ROOT = Path(__file__).resolve().parents[2]
JST = dt.timezone(dt.timedelta(hours=9))

# DESIGN.md "Defect codes" plus our STATE_CONFLICT; "Warnings".
DEFECT_CODES = frozenset({
    "UNKNOWN_KIND", "CUSTOMER_CODE_MISSING", "CUSTOMER_CODE_MISMATCH", "ATTACHMENT_MISSING", "PDF_NOT_ENCRYPTED",
    "PDF_WRONG_PASSWORD", "PDF_UNREADABLE", "UNIS_ORDER_MISSING", "LINE_KIND_MISSING", "LINE_TYPE_MISSING",
    "MAIL_ADDRESS_MISSING", "MAIL_ADDRESS_INVALID", "MAIL_ADDRESS_READING_MISMATCH", "SSID_NOT_HALFWIDTH",
    "UNIT_COUNT_MISSING", "BODY_FIELD_MISSING", "PLUS_FLAG_MISMATCH", "CC_MANAGER_MISSING", "REASON_MISSING",
    "TERMINATION_DATE_MISSING", "WITHDRAWAL_TOO_LATE", "CUSTOMER_NOT_FOUND", "DESTINATION_LINE_MISSING",
    "STATE_CONFLICT",
})
WARNING_CODES = frozenset({"CANCEL_COSTS", "ROUTER_RETURN_DUE", "SHOP_NAME_DIFFERS"})

# Tuesday 2026-11-24 10:00 Japan time: a business morning (the day after 勤労感謝の日).
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=JST)

SENDER = "内田 <uchida@aoyama.usen.co.jp>"
MANAGER = "aoyama-shitencho@aoyama.usen.co.jp"

# Customer codes, one per situation the rules look at.
ORDER = "988776654"  # UNIS 受注 (地区): a new install waiting for its order mail
PLUS = "410106060"  # UNIS 受注, a USEN SPOT Plus shop
CORPORATE = "700000001"  # only a 法人 line, and not a live one: exempt from UNIS_ORDER_MISSING
NO_UNIS = "123456789"  # in neither UNIS nor the ledger
INSTALLED = "300000001"  # UNIS 確定
SCHEDULED = "300000002"  # UNIS 確定 with 解約日 2026/11/25 (termination registered in advance)
TERMINATED = "300000003"  # UNIS 解約, 解約日 in the past
CANCELLED = "300000004"  # UNIS キャンセル
SCHEDULED_UNIS_LATE = "300000005"  # UNIS 確定 with 解約日 2026/11/25; body says another date

UNIS_HEADER = ("顧客番号,契約番号,明細番号,契約品目,品目名,契約状態,店舗名,管轄支店,契約種類,獲得区分,"
               "完成予定日,確定日,シリアルNo,明細備考,キャンセル日,解約日")


def unis_line(code: str, status: str, *, shop: str = "カフェ AOYAMA", acquisition: str = "地区",
              item: str = "Z100403", confirmed: str = "", serial: str = "", cancel: str = "",
              termination: str = "") -> str:
    if status in ("確定", "解約") and not confirmed:
        item, confirmed, serial = "9603040", "2025/04/01", "FB05HFH01703"
    return (f"{code},1,1,{item},USEN SPOT,{status},{shop},青山支店,01-99 新設 その他,{acquisition},"
            f"2026/12/04,{confirmed},{serial},,{cancel},{termination}")


def unis_csv(extra: Iterable[str] = ()) -> str:
    lines = [
        UNIS_HEADER,
        unis_line(ORDER, "受注"),
        unis_line(PLUS, "受注", shop="スパゲティーUSEN", item="Z100404"),
        unis_line(CORPORATE, "キャンセル", acquisition="法人", item="Z100369", cancel="2026/10/01"),
        unis_line(INSTALLED, "確定"),
        unis_line(SCHEDULED, "確定", termination="2026/11/25"),
        unis_line(TERMINATED, "解約", termination="2026/10/31"),
        unis_line(CANCELLED, "キャンセル", cancel="2026/10/15"),
        unis_line(SCHEDULED_UNIS_LATE, "確定", termination="2026/11/25"),
        *extra,
    ]
    return "\r\n".join(lines) + "\r\n"


BRANCHES_CSV = (
    "支店名,ドメイン,支店長\r\n"
    f"青山支店,aoyama.usen.co.jp,{MANAGER}\r\n"
    "新宿支店,shinjuku.usen.co.jp,\r\n"  # a branch whose manager the directory does not know
)


# --------------------------------------------------------------------------- PDFs (cached)


def _freeze(fields: Mapping[str, object]) -> tuple[tuple[str, object], ...]:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in fields.items()))


@functools.cache
def _typed(frozen: tuple[tuple[str, object], ...], options: tuple[tuple[str, object], ...]) -> bytes:
    return pdfs.typed_form(dict(frozen), **dict(options))


@functools.cache
def _fillable(frozen: tuple[tuple[str, object], ...], options: tuple[tuple[str, object], ...]) -> bytes:
    return pdfs.fillable_form(dict(frozen), **dict(options))


def form(code: str = ORDER, /, *, fillable: bool = False, font: str = "ttf", layout: str = "table",
         encrypt: str | None = "aes256", password: str = pdfs.DEFAULT_PASSWORD, **fields: object) -> bytes:
    """The application form (申込書) for `code`, DEFAULT_FIELDS with `fields` over them; built once."""
    values = {"customer_code": code, **fields}
    if fillable:
        return _fillable(_freeze(values), _freeze({"encrypt": encrypt, "password": password}))
    return _typed(_freeze(values), _freeze({"font": font, "layout": layout, "encrypt": encrypt,
                                            "password": password}))


@functools.cache
def termination_pdf(code: str | None, date_text: str | None, *, encrypt: str | None = "aes256",
                    layout: str = "table") -> bytes:
    return pdfs.termination_form(code, date_text, encrypt=encrypt, layout=layout)  # type: ignore[arg-type]


@functools.cache
def scan() -> bytes:
    return pdfs.scanned_form()


# --------------------------------------------------------------------------- mails


def order_body(code: str = ORDER, *, plus: str = "無", shop: str = "カフェ AOYAMA", branch: str = "青山支店",
               staff: str | None = "内田", colon: str = " : ", yn_sep: str = " ", extra: Sequence[str] = (),
               omit: Sequence[str] = ()) -> str:
    """A 器材発注依頼 body as in manual §II: `colon` separates label and value, `yn_sep` the 有/無
    answers (none at all in the manual: `SPOT Plus該当 有`)."""
    labelled = [("顧客CD", code), ("店舗名", shop), ("リンク品使用", "無"), ("SPOT Plus該当", plus),
                ("送付支店名", branch), ("担当者名", staff)]
    lines = ["事務センター 開業支援G 御中", "", "お疲れ様です。申込書送付します。", ""]
    for label, value in labelled:
        if value is None or label in omit:
            continue
        sep = yn_sep if label in ("リンク品使用", "SPOT Plus該当") else colon
        lines.append(f"{label}{sep}{value}")
    lines += [*extra, "", "よろしくお願いします。"]
    return "\n".join(lines) + "\n"


def request_body(code: str, *lines: str, greeting: str = "お疲れ様です。青山支店の内田です。",
                 branch: str = "青山支店") -> str:
    """A body for the kinds without an application form: greeting, the given lines, the labels."""
    body = ["事務センター 開業支援G 御中", "", greeting, *lines, "", f"顧客CD : {code}", "店舗名 : カフェ AOYAMA",
            f"送付支店名 : {branch}", "担当者名 : 内田", "", "よろしくお願いいたします。"]
    return "\n".join(body) + "\n"


def order(code: str = ORDER, *, pdf: bytes | None = None, body: str | None = None, subject: str | None = None,
          charset: str = "iso-2022-jp", cc: str | Sequence[str] | None = MANAGER, attach: bool = True,
          pdf_name: str = "申込書.pdf", **kw: object) -> bytes:
    """A 器材発注依頼 mail with its form (a fresh default form for `code` unless `pdf` is given)."""
    attachments = [(pdf_name, pdf if pdf is not None else form(code), PDF)] if attach else []
    return build_mail(subject if subject is not None else f"USEN SPOT 器材発注依頼_{code}",
                      body if body is not None else order_body(code), charset=charset, cc=cc,
                      attachments=attachments, **kw)  # type: ignore[arg-type]


def request(prefix: str, code: str | None, body: str, *, charset: str = "utf-8",
            cc: str | Sequence[str] | None = MANAGER, attachments: Sequence[tuple[str, bytes, str]] = (),
            subject: str | None = None, **kw: object) -> bytes:
    """A mail of any kind: subject `USEN SPOT <prefix>_<code>`."""
    if subject is None:
        subject = f"USEN SPOT {prefix}_{code}" if code else f"USEN SPOT {prefix}"
    return build_mail(subject, body, charset=charset, cc=cc, attachments=attachments, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the CLI


@dataclass(frozen=True)
class Row:
    """One line of a rule table: a mail, when it arrives, and what the bot must answer."""

    id: str
    raw: bytes
    decision: str
    defects: frozenset[str] = frozenset()
    warnings: frozenset[str] = frozenset()
    now: dt.datetime = NOW
    why: str = ""  # the rule the row proves, for the reader
    kind: str | None = field(default=None)  # expected kind, when the row checks classification

    def __post_init__(self) -> None:
        object.__setattr__(self, "defects", frozenset(self.defects))
        object.__setattr__(self, "warnings", frozenset(self.warnings))


def cli_env(db_url: str, branches_file: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a `bot` subprocess: no stray BOT_* from the caller, the DB and
    branch directory given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env["BOT_DATABASE_URL"] = db_url
    if branches_file is not None:
        env["BOT_BRANCHES_FILE"] = str(branches_file)
    env.update(extra)
    return env


def bot(args: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], check=False, capture_output=True, text=True,
                          env=dict(env), cwd=cwd, timeout=120)


def import_unis(csv_text: str, *, env: Mapping[str, str], cwd: Path) -> str:
    path = cwd / "unis.csv"
    path.write_bytes(csv_text.encode("cp932"))
    proc = bot(["import-unis", str(path)], env=env, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert "refused 0 rows" in proc.stdout, proc.stdout
    return proc.stdout


def run_dry(rows: Sequence[Row], *, env: Mapping[str, str], cwd: Path) -> dict[str, dict[str, object]]:
    """Write each row's mail to `<id>.eml` and decide them with one `bot process --dry-run --json`
    per arrival time. Returns row id → the JSON object the CLI printed for it."""
    folder = cwd / "mails"
    folder.mkdir(exist_ok=True)
    by_now: dict[dt.datetime, list[Path]] = {}
    for row in rows:
        path = folder / f"{row.id}.eml"
        path.write_bytes(row.raw)
        by_now.setdefault(row.now, []).append(path)
    results: dict[str, dict[str, object]] = {}
    for now, paths in by_now.items():
        proc = bot(["process", "--dry-run", "--json", "--now", now.isoformat(), *map(str, paths)], env=env, cwd=cwd)
        assert proc.returncode == 0, proc.stderr
        lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        assert len(lines) == len(paths), proc.stdout
        for result in lines:
            results[Path(str(result["file"])).stem] = result
    return results
