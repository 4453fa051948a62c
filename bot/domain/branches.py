"""Branch directory (支店一覧): branch name, staff mail domain, manager (支店長) address.

A CSV (UTF-8 or CP932; header 支店名,ドメイン,支店長 or branch,domain,manager) or a TOML file
with ``[[branch]] name = … domain = … manager = …`` tables, named by ``[branches] file``.
A bad row is an error naming the file and line: a directory that silently drops a branch
would silently drop its CC_MANAGER_MISSING check.
"""

from __future__ import annotations

import csv
import io
import tomllib
import unicodedata
from pathlib import Path

from bot.checks.base import Branch

HEADERS = {
    "name": ("支店名", "branch", "name"),
    "domain": ("ドメイン", "domain"),
    "manager": ("支店長", "manager", "支店長メール"),
}


class BranchDirectoryError(Exception):
    pass


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _key(name: str) -> str:
    return _norm(name).replace(" ", "")


def load_directory(path: str | Path) -> dict[str, Branch]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BranchDirectoryError(f"{path}: cannot read branch directory: {err.strerror}") from err
    if path.suffix.lower() == ".toml":
        return _from_toml(path, data)
    return _from_csv(path, data)


def _check(path: Path, where: str, name: str, domain: str, manager: str) -> Branch:
    if not name:
        raise BranchDirectoryError(f"{path}: {where}: empty branch name")
    if not domain or "@" in domain or "." not in domain:
        raise BranchDirectoryError(f"{path}: {where}: domain {domain!r} is not a mail domain")
    if manager and ("@" not in manager or manager.startswith("@")):
        raise BranchDirectoryError(f"{path}: {where}: manager {manager!r} is not a mail address")
    return Branch(name=name, domain=domain.lower(), manager=manager.lower())


def _from_csv(path: Path, data: bytes) -> dict[str, Branch]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp932", errors="strict")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise BranchDirectoryError(f"{path}: empty file")
    header = [_norm(h).lower() for h in rows[0]]
    index: dict[str, int] = {}
    for attr, names in HEADERS.items():
        for n in names:
            if n.lower() in header:
                index[attr] = header.index(n.lower())
                break
        else:
            raise BranchDirectoryError(f"{path}: line 1: no column {names[0]} ({'/'.join(names)})")
    out: dict[str, Branch] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < len(header):
            raise BranchDirectoryError(f"{path}: line {lineno}: {len(row)} cells, header has {len(header)}")
        branch = _check(path, f"line {lineno}", _norm(row[index["name"]]), _norm(row[index["domain"]]),
                        _norm(row[index["manager"]]))
        out[_key(branch.name)] = branch
    return out


def _from_toml(path: Path, data: bytes) -> dict[str, Branch]:
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise BranchDirectoryError(f"{path}: not valid TOML: {err}") from err
    entries = doc.get("branch", [])
    if not isinstance(entries, list):
        raise BranchDirectoryError(f"{path}: expected [[branch]] tables")
    out: dict[str, Branch] = {}
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise BranchDirectoryError(f"{path}: [[branch]] #{i}: not a table")
        branch = _check(path, f"[[branch]] #{i}", _norm(str(entry.get("name", ""))),
                        _norm(str(entry.get("domain", ""))), _norm(str(entry.get("manager", ""))))
        out[_key(branch.name)] = branch
    return out
