"""What `bot demo` prints, one function per section (bot/demo/run.py runs the demo and collects a
:class:`DemoRun`; this module only reads it and writes text). Japanese first, English after.

Sections, in the order they print: the servers and the UNIS import, the decision table, the
folders and every mail that went out (replies, 差戻, the list to 登録G), the vendor batch (the
district CSV, the corporate CSV kept apart, what the vendor mail says about it), the corporate
bulk orders (the numbered list to 登録G, the rows a 差戻 names), the UNIS registration audit, the
first 差戻 as the branch reads it, the timing and how to open the console on the demo's data.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import TextIO

from bot.demo.embedded import ReceivedMessage
from bot.domain import vocab
from bot.pipeline.outcome import Outcome
from bot.unis import ImportReport
from bot.unis.audit import BranchFindings
from bot.vendor import BatchResult

# The office's word, then the code `bot process --json` prints (admins read both).
DECISION_LABELS = {code: f"{label} {code}" for code, label in vocab.DECISIONS.items() if code != "undecided"}
CORPORATE_KIND = "corporate_order"
CORPORATE_CSV_PREFIX = "usen_spot_houjin_"  # bot/vendor/csvfiles.py corporate_csv_name
REGISTRATION_CSV_PREFIX = "houjin_kanri_"  # bot/corporate/act.py: the list mailed to 登録G


@dataclass(frozen=True)
class DemoRun:
    """Everything one demo run did, as plain values for the printer."""

    imap: str  # host:port
    smtp: str
    db_url: str
    unis: ImportReport
    mail_count: int
    outcomes: Sequence[Outcome]
    folders: dict[str, int]
    sent: Sequence[ReceivedMessage]  # every mail the pass sent (replies, 差戻, the list to 登録G)
    batch: BatchResult | None
    vendor_mails: int
    vendor_encoding: str
    findings: Sequence[BranchFindings]  # the UNIS audit after the import, per branch
    registration_to: tuple[str, ...]  # [corporate] registration_to (登録G)
    pass_seconds: float


# -- text helpers ---------------------------------------------------------------------------

def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("F", "W") else 1 for c in text)


def cell(text: str, size: int) -> str:
    out = ""
    for ch in text:
        if width(out + ch) > size:
            out = out[:-1] + "…" if out else out
            break
        out += ch
    return out + " " * (size - width(out))


def _parse(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def _body(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    return part.get_content() if part is not None else ""  # type: ignore[union-attr]


def _attachment(msg: EmailMessage, prefix: str) -> tuple[str, bytes] | None:
    for part in msg.iter_attachments():
        name = part.get_filename() or ""
        if name.startswith(prefix):
            return name, part.get_payload(decode=True)  # type: ignore[return-value]
    return None


def _quoted(lines: Sequence[str], out: TextIO) -> None:
    for line in lines:
        print("  | " + line, file=out)


def _codes(codes: Sequence[str]) -> str:
    """CORPORATE_ROW_INVALID ×2 rather than the code twice."""
    counted = Counter(codes)
    return ", ".join(code if n == 1 else f"{code} ×{n}" for code, n in counted.items())


def _reply_to(run: DemoRun, outcome: Outcome) -> EmailMessage | None:
    """The 差戻 the pass sent for `outcome` (in the thread: Re: and the same subject)."""
    for received in run.sent:
        msg = _parse(received.data)
        if str(msg["Subject"] or "") == f"Re: {outcome.subject}":
            return msg
    return None


# -- sections -------------------------------------------------------------------------------

def header(run: DemoRun, out: TextIO) -> None:
    print("USEN SPOT office bot — demo", file=out)
    print(f"  IMAP  {run.imap} (pymap, in-process)   SMTP {run.smtp} (aiosmtpd)", file=out)
    print(f"  DB    {run.db_url}", file=out)
    print(f"  UNIS  {run.unis.loaded} 行取込 / rows loaded ({run.unis.encoding})", file=out)
    print(f"  受信箱 INBOX: {run.mail_count} 通 / mails\n", file=out)


def decisions(run: DemoRun, out: TextIO) -> None:
    head = f"{cell('件名 subject', 44)} {cell('判定 decision', 16)} {cell('移動先', 11)} 不備/警告 defects/warnings"
    print(head, file=out)
    print("-" * width(head), file=out)
    for o in sorted(run.outcomes, key=lambda o: o.mail_id):
        notes = _codes((*o.defects, *o.warnings)) or o.reason or "-"
        if o.decision == "accepted" and o.reason:
            notes = o.reason
        print(f"{cell(o.subject, 44)} {cell(DECISION_LABELS.get(o.decision, o.decision), 16)} "
              f"{cell(o.folder, 11)} {notes}", file=out)
    print(file=out)


def replies(run: DemoRun, out: TextIO) -> None:
    print("フォルダ folders: " + ", ".join(f"{k} {v}" for k, v in sorted(run.folders.items())), file=out)
    print(f"返信 replies: {len(run.sent)} 通 sent to SMTP {run.smtp}", file=out)
    for received in run.sent:
        msg = _parse(received.data)
        note = ""
        if set(received.rcpt_tos) & set(run.registration_to):
            note = "   ← 登録G (UNIS受注登録 registration)"
        print(f"  → {', '.join(received.rcpt_tos)}: {msg['Subject']}{note}", file=out)


def vendor_batch(run: DemoRun, out: TextIO) -> None:
    batch = run.batch
    if batch is None:
        return
    counts = ", ".join(f"{c} {n}" for c, n in batch.counts if n)
    vendor_mail = _parse(batch.raw)
    corporate = _attachment(vendor_mail, CORPORATE_CSV_PREFIX)
    files = batch.csv_name + (f" + {corporate[0]}" if corporate else "")
    print(f"\nベンダー発注 vendor batch {batch.batch_date:%Y/%m/%d}: {batch.row_count} 行 rows ({counts}) → "
          f"{', '.join(batch.recipients)} ({run.vendor_mails} 通 mail, {files}, {run.vendor_encoding.upper()})",
          file=out)
    _quoted(batch.csv_bytes.decode(run.vendor_encoding).splitlines(), out)
    if corporate is not None:
        name, data = corporate
        lines = data.decode(run.vendor_encoding).splitlines()
        print(f"  法人 corporate rows, kept apart (manual §IX ⑤ 分別): {name}, {len(lines) - 1} 行 rows", file=out)
        _quoted(lines, out)
    # What the vendor mail's text says about the corporate rows (templates/vendor_batch.txt.j2).
    said = _section(batch.body, "■ 法人一括発注")
    if said:
        print("  ベンダーへのメール本文より from the vendor mail's text:", file=out)
        _quoted(said, out)


def _section(text: str, start: str) -> list[str]:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(start):
            end = next((j for j in range(i + 1, len(lines)) if not lines[j].strip()), len(lines))
            return lines[i:end]
    return []


def corporate(run: DemoRun, out: TextIO) -> None:
    orders = [o for o in sorted(run.outcomes, key=lambda o: o.mail_id) if o.kind == CORPORATE_KIND]
    if not orders:
        return
    print("\n法人一括発注 corporate bulk orders (manual §IX, 法人営業 → 登録G + vendor):", file=out)
    for o in orders:
        label = DECISION_LABELS.get(o.decision, o.decision)
        print(f"  {label}: {o.subject} ({o.from_addr})", file=out)
        if o.decision == "accepted":
            print(f"    {o.reason}", file=out)
            for received in run.sent:
                listed = _attachment(_parse(received.data), REGISTRATION_CSV_PREFIX)
                if listed is not None and set(received.rcpt_tos) & set(run.registration_to):
                    print(f"    登録Gへ送付 sent to 登録G {', '.join(received.rcpt_tos)}: {listed[0]} (管理番号 per router)",
                          file=out)
                    print("\n".join("    | " + ln for ln in listed[1].decode("utf-8-sig").splitlines()), file=out)
        elif o.decision == "rejected":
            reply = _reply_to(run, o)
            # each defect line of the 差戻 names it in words: 「1. 【法人顧客リストの行に誤り】…」
            named = [ln.strip() for ln in _body(reply).splitlines() if "【" in ln and "】" in ln] if reply else []
            print(f"    差戻 1 通 one reply to {', '.join(o.reply_to)}, naming every bad row and column:", file=out)
            print("\n".join("    | " + ln for ln in named), file=out)
        else:
            print(f"    {o.reason}", file=out)


def integrated(run: DemoRun, out: TextIO) -> None:
    """The 統合申込書 (manual §I): the multi-service form, its USEN SPOT row read."""
    forms = [o for o in sorted(run.outcomes, key=lambda o: o.mail_id) if "SPOT_NOT_SELECTED" in o.defects]
    if not forms:
        return
    print("\n統合申込書 integrated application form (manual §I: the USEN SPOT row of the services table):", file=out)
    for o in forms:
        print(f"  {DECISION_LABELS.get(o.decision, o.decision)}: {o.subject}", file=out)
        reply = _reply_to(run, o)
        if reply is not None:
            name = f"【{vocab.code_name('SPOT_NOT_SELECTED')}】"
            _quoted([ln.strip() for ln in _body(reply).splitlines() if name in ln], out)


def unis_audit(run: DemoRun, out: TextIO) -> None:
    total = sum(len(b.findings) for b in run.findings)
    print(f"\nUNIS登録チェック UNIS audit: {total} 件 (UNIS取込のたびに点検 after every UNIS import, "
          f"manual §VIII; bot audit-unis)", file=out)
    for group in run.findings:
        if not group.findings:
            continue
        print(f"  ■ {group.branch}: {len(group.findings)} 件", file=out)
        for f in group.findings:
            print(f"    [{f.rule}] {f.unis_line}  {f.shop_name or ''}", file=out)
            print(f"      {f.problem}：{f.value}", file=out)
            print(f"      → {f.fix}", file=out)


def first_rejection(run: DemoRun, out: TextIO) -> None:
    for received in run.sent:
        msg = _parse(received.data)
        if str(msg["Subject"] or "").startswith("Re: "):
            print("\n最初の差戻メール first rejection mail:", file=out)
            _quoted(_body(msg).splitlines(), out)
            return


def timing(run: DemoRun, total: float, out: TextIO) -> None:
    n = len(run.outcomes)
    print(f"\n{n} 通を判定 decided in {run.pass_seconds:.2f} s ({run.pass_seconds / max(n, 1) * 1000:.0f} ms/mail); "
          f"demo total {total:.1f} s", file=out)


def console_hint(out: TextIO, url: str | None) -> None:
    """How to open the office console on this demo's data (issue 7)."""
    print("\n事務センター コンソールでこの結果を見る / open the office console on this demo's data:", file=out)
    if url is None:
        print("  python3 -m bot demo --keep      # keeps the demo's SQLite file, then follow the lines it prints", file=out)
        return
    print(f"  export BOT_DATABASE_URL={url}", file=out)
    print("  export BOT_WEB_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')", file=out)
    print("  python3 -m bot users add kanri --role admin --name 管理      # asks for a password", file=out)
    print("  python3 -m bot web                                          # → http://127.0.0.1:8080/", file=out)


def print_run(run: DemoRun, out: TextIO) -> None:
    """Every section after the pass, in order (the header prints before the pass starts)."""
    decisions(run, out)
    replies(run, out)
    vendor_batch(run, out)
    corporate(run, out)
    integrated(run, out)
    unis_audit(run, out)
    first_rejection(run, out)
