"""The customer list's bytes → a table of cell texts, inside the caps ([corporate] max_bytes,
max_rows, max_unzipped_bytes).

An .xlsx is a zip of XML: a hostile one is a zip bomb (a few KB that inflate to gigabytes) or
a sheet with a million rows. So the caps are checked *before* openpyxl parses anything: the
file size, then the zip directory (the members' declared sizes and their ratio), and openpyxl
runs in read-only mode (streaming, one row at a time) and stops at the row cap. A declared
size that lies does not help a bomb: Python's zipfile stops inflating a member at its declared
size and then fails its CRC, which is a list we cannot open. And the whole read runs in a reader
process (bot/forms/workers.py) with its memory limit and deadline: whatever slips through costs that
process, never the daemon.

A .csv is CP932 or UTF-8 (BOM or not), decoded like the UNIS extract (bot/unis/__init__.py).
Pure: bytes in, a :class:`Table` or :class:`ListUnreadable` out.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
import zipfile
from dataclasses import dataclass

XLSX = "xlsx"
CSV = "csv"
MAX_COLUMNS = 40  # a customer list has ~10 columns; cells beyond are not read
MAX_RATIO = 200  # declared inflated size / compressed size of one member (real sheets: < 20)
_XLSX_TYPES = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",)
_CSV_TYPES = ("text/csv", "text/comma-separated-values", "application/csv", "application/vnd.ms-excel")


@dataclass(frozen=True)
class Caps:
    """[corporate] caps on one list."""

    max_bytes: int = 5_000_000
    max_rows: int = 2_000
    max_unzipped_bytes: int = 50_000_000


@dataclass(frozen=True)
class Table:
    """The list as cell texts: (row number as a spreadsheet shows it, cells), empty rows left out."""

    kind: str  # xlsx | csv
    rows: tuple[tuple[int, tuple[str, ...]], ...]


class ListUnreadable(Exception):
    """The list cannot be read; `problem` says why in Japanese, `limit` names a cap it broke."""

    def __init__(self, problem: str, *, limit: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.limit = limit


def list_kind(filename: str | None, content_type: str) -> str | None:
    """xlsx / csv by the name (any width, any case), else by the content type; None: not a list."""
    name = unicodedata.normalize("NFKC", filename or "").strip().lower()
    if name.endswith((".xlsx", ".xlsm")):
        return XLSX
    if name.endswith(".csv"):
        return CSV
    if content_type in _XLSX_TYPES:
        return XLSX
    if content_type in _CSV_TYPES:
        return CSV
    return None


def read_table(data: bytes, kind: str, caps: Caps) -> Table:
    """Cells of the list's first sheet (xlsx) or of the file (csv). Raises ListUnreadable."""
    if len(data) > caps.max_bytes:
        raise ListUnreadable(f"ファイルが大きすぎます（{len(data):,} バイト、上限 {caps.max_bytes:,} バイト）",
                             limit="max_bytes")
    if kind == XLSX:
        return _read_xlsx(data, caps)
    return _read_csv(data, caps)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 親機 2 typed as a number is 2.0 in some writers
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value).strip()


def _check_zip(data: bytes, caps: Caps) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as err:
        raise ListUnreadable("Excelファイル（.xlsx）として開けません（壊れているか、.xlsx ではありません）") from err
    with archive:
        members = archive.infolist()
        if len(members) > 1_000:
            raise ListUnreadable(f"Excelファイルの内部のファイル数が多すぎます（{len(members):,}）", limit="max_unzipped_bytes")
        total = sum(m.file_size for m in members)
        if total > caps.max_unzipped_bytes:
            raise ListUnreadable(f"Excelファイルの展開後のサイズが大きすぎます（{total:,} バイト、上限 "
                                 f"{caps.max_unzipped_bytes:,} バイト）", limit="max_unzipped_bytes")
        for m in members:
            if m.file_size > 1_000_000 and m.file_size > MAX_RATIO * max(m.compress_size, 1):
                raise ListUnreadable(f"Excelファイルの圧縮率が異常です（{m.filename}）", limit="max_unzipped_bytes")


def _read_xlsx(data: bytes, caps: Caps) -> Table:
    _check_zip(data, caps)
    import openpyxl  # only the reader process pays for it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as err:
        raise ListUnreadable("Excelファイル（.xlsx）として開けません（壊れているか、パスワードがかかっています）") from err
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise ListUnreadable("Excelファイルにシートがありません")
        rows: list[tuple[int, tuple[str, ...]]] = []
        try:
            for number, values in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1):
                cells = tuple(_cell(v) for v in values)
                if not any(cells):
                    continue
                if len(rows) >= caps.max_rows + 1:  # + the header row
                    raise ListUnreadable(f"行数が多すぎます（上限 {caps.max_rows:,} 行）", limit="max_rows")
                rows.append((number, cells))
        except (ListUnreadable, MemoryError):
            raise
        except Exception as err:  # noqa: BLE001 - a broken sheet (bad XML, a CRC error) is a bad list
            raise ListUnreadable("Excelファイル（.xlsx）のシートが壊れていて読めません") from err
        return Table(XLSX, tuple(rows))
    finally:
        book.close()


def _read_csv(data: bytes, caps: Caps) -> Table:
    from bot.unis import UnisImportError, decode_extract

    try:
        text, _encoding = decode_extract(data, name="顧客リスト")
    except UnisImportError as err:
        raise ListUnreadable("CSVファイルの文字コードが読めません（Shift_JIS(CP932) か UTF-8 で保存してください）") from err
    rows: list[tuple[int, tuple[str, ...]]] = []
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        for values in reader:
            number = reader.line_num
            cells = tuple(v.strip() for v in values[:MAX_COLUMNS])
            if not any(cells):
                continue
            if len(rows) >= caps.max_rows + 1:
                raise ListUnreadable(f"行数が多すぎます（上限 {caps.max_rows:,} 行）", limit="max_rows")
            rows.append((number, cells))
    except csv.Error as err:
        raise ListUnreadable(f"CSVファイルとして読めません（{err}）") from err
    return Table(CSV, tuple(rows))
