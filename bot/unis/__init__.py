"""UNIS order extract (UNIS受注データ) import: CSV → ``unis_orders``, one upsert per contract line.

The extract arrives daily as CP932 or UTF-8 (with or without BOM). Each bad row is reported
with its line number and reason while the good rows load; importing the same or a newer
extract again updates rows in place (key: 顧客番号 + 契約番号 + 明細番号), never duplicates them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.corporate.serials import link_serials
from bot.db.models import UnisOrder
from bot.unis.audit import WINDOW_DAYS, refresh_after_import

log = logging.getLogger("bot.unis")

# Our attribute → the extract's column name. The real extract may name columns differently:
# the config can map them (see `columns=`).
DEFAULT_COLUMNS: Mapping[str, str] = {
    "customer_code": "顧客番号",
    "contract_no": "契約番号",
    "line_no": "明細番号",
    "item_code": "契約品目",
    "item_name": "品目名",
    "status": "契約状態",
    "shop_name": "店舗名",
    "branch": "管轄支店",
    "contract_type": "契約種類",
    "acquisition": "獲得区分",
    "planned_date": "完成予定日",
    "confirmed_date": "確定日",
    "serial": "シリアルNo",
    "remarks": "明細備考",
    "cancel_date": "キャンセル日",
    "termination_date": "解約日",
}
REQUIRED = ("customer_code", "contract_no", "line_no", "status")
DATE_FIELDS = ("planned_date", "confirmed_date", "cancel_date", "termination_date")
STATUSES = frozenset({"受注", "確定", "キャンセル", "解約"})
ACQUISITIONS = frozenset({"地区", "法人"})
# Order-only items (受注専用品目, manual §VIII): they may never be 確定.
ORDER_ONLY_ITEMS = frozenset({"Z100403", "Z100404", "Z100369"})
# Serial number rule (manual §VIII, FAQ 6-8): 12 characters, two letters then letters/digits.
SERIAL_RE = re.compile(r"^[A-Z]{2}[A-Z0-9]{10}$")
CODE_RE = re.compile(r"^\d{9}$")
_DATE_RE = re.compile(r"^(\d{4})[/\-.](\d{1,2})[/\-.](\d{1,2})$")


class UnisImportError(Exception):
    """The file as a whole cannot be imported (unreadable, no header, missing columns)."""


@dataclass(frozen=True)
class RowProblem:
    line: int  # 1-based physical line number in the file (the header is line 1)
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    file: str
    encoding: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: list[RowProblem] = field(default_factory=list)
    notes: list[RowProblem] = field(default_factory=list)  # loaded, but worth a look

    @property
    def loaded(self) -> int:
        return self.inserted + self.updated + self.unchanged


def decode_extract(data: bytes, *, name: str = "<extract>") -> tuple[str, str]:
    """Bytes → (text, encoding). UTF-8 with BOM, then strict UTF-8, then CP932."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
        except UnicodeDecodeError as err:
            line = data[3: 3 + err.start].count(b"\n") + 1
            raise UnisImportError(f"{name}: starts with a UTF-8 BOM but is not UTF-8 (undecodable byte on line "
                                  f"{line}); save it again as UTF-8 or CP932") from err
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError as err:
        # Which line is broken, so a person can find it.
        line = data[: err.start].count(b"\n") + 1
        raise UnisImportError(f"{name}: neither UTF-8 nor CP932 (undecodable byte on line {line})") from err


def _column_lengths() -> dict[str, int]:
    """String columns of the table and their sizes: a longer value is refused with its line
    number (PostgreSQL would otherwise abort the whole import at flush)."""
    return {c.name: c.type.length for c in UnisOrder.__table__.columns
            if isinstance(getattr(c.type, "length", None), int)}


_COLUMN_LENGTHS = _column_lengths()


def _norm(value: str | None) -> str:
    return unicodedata.normalize("NFKC", value or "").strip()


def _parse_date(value: str) -> dt.date | None:
    value = _norm(value)
    if not value:
        return None
    m = _DATE_RE.match(value)
    if not m:
        raise ValueError(f"not a date (YYYY/MM/DD): {value!r}")
    return dt.date(int(m[1]), int(m[2]), int(m[3]))


def parse_rows(
    text: str, *, columns: Mapping[str, str] = DEFAULT_COLUMNS, name: str = "<extract>"
) -> Iterable[tuple[int, dict[str, object] | RowProblem, list[RowProblem]]]:
    """Yield (line number, parsed row or the reason it was refused, notes) per data row."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise UnisImportError(f"{name}: empty file (no header row)") from None
    except csv.Error as err:
        raise UnisImportError(f"{name}: line 1: unreadable header: {err}") from err
    header = [_norm(h) for h in header]
    index: dict[str, int] = {}
    for attr, col in columns.items():
        if _norm(col) in header:
            index[attr] = header.index(_norm(col))
    missing = [columns[a] for a in REQUIRED if a not in index]
    if missing:
        raise UnisImportError(
            f"{name}: line 1: header lacks required column(s) {', '.join(missing)} (found: {', '.join(header)})"
        )
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield reader.line_num, RowProblem(reader.line_num, f"unreadable CSV: {err}"), []
            continue
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # blank line: nothing to report
        if len(cells) != len(header):
            yield line, RowProblem(line, f"{len(cells)} cells, header has {len(header)}"), []
            continue
        yield line, *_parse_row(line, cells, index, columns)


def _parse_row(
    line: int, cells: Sequence[str], index: Mapping[str, int], columns: Mapping[str, str]
) -> tuple[dict[str, object] | RowProblem, list[RowProblem]]:
    row: dict[str, object] = {}
    for attr, i in index.items():
        raw = cells[i]
        if attr in DATE_FIELDS:
            try:
                row[attr] = _parse_date(raw)
            except ValueError as err:
                return RowProblem(line, f"{columns[attr]}: {err}"), []
        else:
            row[attr] = _norm(raw) or None
    for attr, limit in _COLUMN_LENGTHS.items():
        value = row.get(attr)
        if isinstance(value, str) and len(value) > limit:
            return RowProblem(line, f"{columns[attr]}: {len(value)} characters, longer than {limit}: {value[:60]!r}"), []
    code = str(row.get("customer_code") or "")
    if not CODE_RE.match(code):
        return RowProblem(line, f"{columns['customer_code']}: not a 9-digit customer code: {code!r}"), []
    for attr in ("contract_no", "line_no"):
        if not row.get(attr):
            return RowProblem(line, f"{columns[attr]}: empty"), []
    if row.get("status") not in STATUSES:
        return RowProblem(
            line, f"{columns['status']}: {row.get('status')!r} is not one of {'/'.join(sorted(STATUSES))}"
        ), []
    acq = row.get("acquisition")
    if acq is not None and acq not in ACQUISITIONS:
        return RowProblem(line, f"{columns['acquisition']}: {acq!r} is not 地区 or 法人"), []
    notes: list[RowProblem] = []
    if row.get("status") == "確定" and row.get("item_code") in ORDER_ONLY_ITEMS:
        notes.append(RowProblem(line, f"item {row['item_code']} is order-only (確定不可) but the line is 確定"))
    serial = row.get("serial")
    if serial and row.get("status") == "確定" and not SERIAL_RE.match(str(serial).upper()):
        notes.append(RowProblem(line, f"serial {serial!r} is not 12 characters of two letters then letters/digits"))
    return row, notes


def import_extract(
    session: Session,
    data: bytes,
    *,
    name: str,
    now: dt.datetime,
    columns: Mapping[str, str] = DEFAULT_COLUMNS,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 10_000,
    audit_window_days: int = WINDOW_DAYS,
) -> ImportReport:
    """Load an extract into the session (the caller commits). Good rows load; bad rows are listed."""
    text, encoding = decode_extract(data, name=name)
    report = ImportReport(file=name, encoding=encoding)
    existing = {
        (o.customer_code, o.contract_no, o.line_no): o for o in session.scalars(select(UnisOrder))
    }
    seen = 0
    for line, parsed, notes in parse_rows(text, columns=columns, name=name):
        seen += 1
        if progress is not None and seen % progress_every == 0:
            progress(seen)
        report.notes.extend(notes)
        if isinstance(parsed, RowProblem):
            report.refused.append(parsed)
            continue
        key = (str(parsed["customer_code"]), str(parsed["contract_no"]), str(parsed["line_no"]))
        order = existing.get(key)
        values = {a: parsed.get(a) for a in DEFAULT_COLUMNS}
        if order is None:
            order = UnisOrder(**values, source_file=name, source_line=line, imported_at=now)
            session.add(order)
            existing[key] = order
            report.inserted += 1
        elif all(getattr(order, a) == v for a, v in values.items()):
            report.unchanged += 1
        else:
            for a, v in values.items():
                setattr(order, a, v)
            order.source_file, order.source_line, order.imported_at = name, line, now
            report.updated += 1
    log.info(
        "UNIS import %s (%s): %d inserted, %d updated, %d unchanged, %d refused",
        name, encoding, report.inserted, report.updated, report.unchanged, len(report.refused),
    )
    # The registration audit (manual §VIII) reads the rows as this import leaves them; its
    # findings commit with them, in this transaction (import_drop_folder's too).
    refresh_after_import(session, now, window_days=audit_window_days)
    link_serials(session, now)  # 法人 routers: management number → serial (bot/corporate/serials.py)
    return report


def import_file(session: Session, path: Path, *, now: dt.datetime, **kwargs: object) -> ImportReport:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UnisImportError(f"{path}: cannot read: {err}") from err
    return import_extract(session, data, name=str(path), now=now, **kwargs)  # type: ignore[arg-type]


def import_drop_folder(
    session_factory: object, *, drop_dir: Path, columns: Mapping[str, str], now: dt.datetime,
    complete: Callable[[Path, os.stat_result], bool] | None = None, audit_window_days: int = WINDOW_DAYS,
) -> list[ImportReport]:
    """Import every CSV dropped into `drop_dir` (oldest first), one transaction per file.

    Only ``*.csv`` names count (an upload written as ``name.csv.part`` and renamed when
    complete is invisible until then; hidden names, as rsync's temporary ``.name.csv.XXXX``,
    never count). ``complete`` (bot/unis/pickup.py, the daemon's) says whether a file is
    whole yet: one still growing waits for the next poll.

    A file that imported is moved to ``done/``; a file that could not be imported at all is
    moved to ``failed/`` with a ``.error.txt`` beside it naming why, so it is never retried in
    a loop and never silently forgotten. Bad rows inside a good file are in its report.

    Several bot processes may share the folder: a file is claimed first by renaming it into
    ``processing/`` under a name that carries the process (an atomic rename: of two processes
    exactly one gets it, the other goes on with the next file). A file left there by a process
    that died is put back and imported again (its transaction never committed).
    """
    from sqlalchemy.orm import sessionmaker

    from bot.db.claims import owner_alive, process_token

    assert isinstance(session_factory, sessionmaker)
    reports: list[ImportReport] = []
    if not drop_dir.is_dir():
        log.warning("UNIS drop folder %s does not exist", drop_dir)
        return reports
    done, failed, processing = drop_dir / "done", drop_dir / "failed", drop_dir / "processing"
    _recover_abandoned(processing, drop_dir, owner_alive)
    owner = process_token()
    for path in _dropped_csvs(drop_dir, complete):
        processing.mkdir(exist_ok=True)
        claimed = processing / f"{path.name}{CLAIM_SEP}{owner}"
        try:
            path.rename(claimed)
        except FileNotFoundError:
            continue  # another process took it
        try:
            with session_factory() as session, session.begin():
                report = import_file(session, claimed, now=now, columns=columns, audit_window_days=audit_window_days)
        except UnisImportError as err:
            failed.mkdir(exist_ok=True)
            target = failed / path.name
            claimed.replace(target)
            target.with_name(target.name + ".error.txt").write_text(
                str(err).replace(str(claimed), str(path)) + "\n", encoding="utf-8")
            log.error("UNIS drop file refused: %s", str(err).replace(str(claimed), str(path)))
            continue
        except BaseException:
            claimed.replace(path)  # not imported (the database is away, a bug): back in the queue
            raise
        done.mkdir(exist_ok=True)
        claimed.replace(done / path.name)
        if report.refused:
            (done / (path.name + ".refused.txt")).write_text(
                "".join(f"{p}\n" for p in report.refused), encoding="utf-8")
        reports.append(report)
    return reports


CLAIM_SEP = ".claimed-by."


def _dropped_csvs(drop_dir: Path, complete: Callable[[Path, os.stat_result], bool] | None = None) -> list[Path]:
    """The CSVs waiting (and complete), oldest first; one that vanishes meanwhile (taken by
    another process) is left out."""
    found: list[tuple[float, str, Path]] = []
    for p in drop_dir.iterdir():
        if p.suffix.lower() != ".csv" or p.name.startswith("."):
            continue
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode) and (complete is None or complete(p, st)):
            found.append((st.st_mtime, p.name, p))
    return [p for _, _, p in sorted(found)]


def _recover_abandoned(processing: Path, drop_dir: Path, owner_alive: Callable[[str], bool]) -> None:
    if not processing.is_dir():
        return
    for p in processing.iterdir():
        name, sep, owner = p.name.rpartition(CLAIM_SEP)
        if not sep or owner_alive(owner):
            continue
        try:
            p.rename(drop_dir / name)
            log.warning("UNIS drop file %s was left by a process that stopped: imported again", name)
        except FileNotFoundError:
            continue
