"""The admin's mail templates as the console edits them: a draft is rendered with the sample
data exactly as ``bot templates check`` renders it, and only a draft that renders is saved.

    draft → render_draft / validate (sandbox, StrictUndefined, the partials, the sample)
          → save: version row (template_versions) + override file, one unit of work

Every save is a version; a revert is a new version carrying an old body, and 組み込みに戻す
(back to built-in) is a version that removes the override file: history is never rewritten.

The override file is written into the admin folder (``[templates] dir``) atomically (temp
file + ``os.replace``), so a running daemon's :class:`bot.templating.Templates` picks it up
on its next render (auto-reload). The file is written as the last step before the commit, and
put back as it was when the commit fails, so the folder and the history agree.

No web code here: the console's views (``bot/web/views/templates.py``) and a CLI can use it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.db.models import TemplateVersion
from bot.templating import (
    BUILTIN_DIR,
    TemplateRenderError,
    describe_error,
    make_environment,
    render_in,
)
from bot.templating.samples import partial_names, sample_for, template_names

log = logging.getLogger("bot.templating.store")

# TemplateVersion.action
SAVE, REVERT, BUILTIN = "save", "revert", "builtin"

# What each template is, for the person choosing one (file name → label).
LABELS = {
    "reject.txt.j2": "差戻メール（支店への返信）",
    "_defects.j2": "不備の説明文（差戻メール・日次レポート・コンソール共通の部品）",
    "digest.txt.j2": "日次レポート（テキスト版・件名）",
    "digest.html.j2": "日次レポート（HTML版）",
    "vendor_batch.txt.j2": "ベンダー便メール（本文・件名）",
    "link_items.txt.j2": "リンク品使用連絡（FG社・UTSへ毎朝、本文・件名）",
    "monthly_report.txt.j2": "支店長への月次レポート（毎月第1営業日、本文・件名）",
}

# Values a template must export with a top-level {% set %}: the mail's callers ask for them
# (bot/digest.py and bot/vendor.py call render_mail(..., required=("subject",))), and an
# override without them counts as broken there, so it is refused here.
REQUIRED_EXPORTS: Mapping[str, tuple[str, ...]] = {
    "digest.txt.j2": ("subject",),
    "vendor_batch.txt.j2": ("subject",),
    "link_items.txt.j2": ("subject",),
    "monthly_report.txt.j2": ("subject",),
}

# A partial is previewed through the mail that shows it best.
PREVIEW_VIA = {"_defects.j2": "reject.txt.j2"}

MAX_BYTES = 200_000  # a template, UTF-8 (the console's forms stop at 64 KiB before this)
MAX_NOTE = 500


class TemplateStoreError(Exception):
    """Why a template was not saved; the message is for the person who tried."""


class UnknownTemplate(TemplateStoreError):
    pass


class NoAdminFolder(TemplateStoreError):
    pass


class StaleVersion(TemplateStoreError):
    """Someone saved a newer version since the editor was opened."""

    def __init__(self, message: str, latest_id: int) -> None:
        super().__init__(message)
        self.latest_id = latest_id


class TemplateInvalid(TemplateStoreError):
    """The draft does not render with the sample data."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


@dataclass(frozen=True)
class Problem:
    """One error: the file as a person names it, its line (None when unknown), Jinja's message."""

    file: str
    line: int | None
    message: str
    in_draft: bool = False  # the error is in the text being edited (its line is a textarea line)

    def __str__(self) -> str:
        where = f"{self.file} {self.line}行目" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Preview:
    """A draft rendered with its sample data (``via``: the mail shown for a partial)."""

    name: str
    via: str
    text: str
    subject: str
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def html(self) -> bool:
        return is_html(self.via)


# -- which templates ---------------------------------------------------------------------------

def editable_names() -> list[str]:
    """The allow-list: the built-in mail templates and partials (``templates/*.j2``). Nothing
    else is ever read or written, so a name from a URL cannot reach another path."""
    return sorted(template_names(BUILTIN_DIR) + partial_names(BUILTIN_DIR), key=lambda n: (n.startswith("_"), n))


def check_name(name: str) -> str:
    if name not in editable_names():
        raise UnknownTemplate(f"テンプレート「{name}」はありません。")
    return name


def is_partial(name: str) -> bool:
    return name.startswith("_")


def is_html(name: str) -> bool:
    return name.endswith((".html.j2", ".html"))


def label(name: str) -> str:
    return LABELS.get(name, name)


def builtin_source(name: str) -> str:
    return (BUILTIN_DIR / check_name(name)).read_text(encoding="utf-8")


def override_source(name: str, admin_dir: Path | None) -> str | None:
    """The admin's override of `name`, if there is one (a file put there by hand in another
    encoding shows its undecodable bytes as U+FFFD rather than failing the page)."""
    path = admin_dir / check_name(name) if admin_dir is not None else None
    if path is None or not path.is_file():
        return None
    return path.read_text(encoding="utf-8", errors="replace")


def current_source(name: str, admin_dir: Path | None) -> str:
    """What the bot renders now: the admin's override, else the built-in template."""
    found = override_source(name, admin_dir)
    return builtin_source(name) if found is None else found


def normalise(body: str) -> str:
    # Browsers send a textarea's lines with CRLF; the files use LF.
    return body.replace("\r\n", "\n").replace("\r", "\n")


# -- rendering a draft -------------------------------------------------------------------------

def _targets(name: str, admin_dir: Path | None) -> list[str]:
    """The mails to render for `name`: itself, or for a partial every mail that names it (as
    the admin's override of that mail reads, if any); the preferred one first."""
    if not is_partial(name):
        return [name]
    using = [m for m in template_names(BUILTIN_DIR) if name in current_source(m, admin_dir)]
    return sorted(using, key=lambda m: (m != PREVIEW_VIA.get(name), m))


def _problem(err: TemplateRenderError, dirs: dict[str, str], draft_dir: str) -> Problem:
    where, line = err.where, None
    head, _, tail = where.rpartition(":")
    if head and tail.isdigit():
        where, line = head, int(tail)
    for directory, suffix in dirs.items():
        prefix = directory.rstrip("/") + os.sep
        if where.startswith(prefix):
            return Problem(where[len(prefix):] + suffix, line, err.message, in_draft=directory == draft_dir)
    return Problem(Path(where).name, line, err.message)


def _exports_missing(name: str, exports: Mapping[str, Any]) -> list[str]:
    return [key for key in REQUIRED_EXPORTS.get(name, ()) if not str(exports.get(key, "")).strip()]


def render_draft(name: str, body: str, admin_dir: Path | None) -> Preview:
    """Render `body` as template `name` would be rendered after a save (the admin folder's
    other overrides in effect), with the sample data; a partial through every mail using it."""
    check_name(name)
    body = normalise(body)
    if len(body.encode("utf-8")) > MAX_BYTES:
        return Preview(name, name, "", "", (Problem(name, None, f"テンプレートが大きすぎます（{MAX_BYTES:,} バイトまで）。",
                                                   in_draft=True),))
    with tempfile.TemporaryDirectory(prefix="bot-template-draft-") as tmp:
        draft_dir = str(Path(tmp).resolve())
        (Path(draft_dir) / name).write_text(body, encoding="utf-8")
        dirs = [Path(draft_dir)] + ([admin_dir] if admin_dir is not None else []) + [BUILTIN_DIR]
        names = {draft_dir: "", str(BUILTIN_DIR): "（組み込み）"}
        if admin_dir is not None:
            names[str(admin_dir)] = "（上書き）"
        env = make_environment(*dirs)
        problems: list[Problem] = []
        shown: tuple[str, str, str] | None = None
        if is_partial(name):
            try:
                env.get_template(name)  # compiled on its own first: its syntax error names its line
            except Exception as err:  # noqa: BLE001 - every breakage becomes a Problem
                problems.append(_problem(TemplateRenderError(*describe_error(err, name, dirs)), names, draft_dir))
        for mail in ([] if problems else _targets(name, admin_dir)):
            sample = sample_for(mail)
            if sample is None:
                continue  # a template without sample data is a developer's matter (bot templates check)
            try:
                rendered = render_in(env, mail, sample, dirs)
            except TemplateRenderError as err:
                problems.append(_problem(err, names, draft_dir))
                continue
            for key in _exports_missing(mail, rendered.exports):
                problems.append(Problem(mail, None,
                                        f"{{% set {key} = … %}} がありません（メールの件名になります）。",
                                        in_draft=mail == name))
            if shown is None:
                shown = (mail, rendered.text, str(rendered.exports.get("subject", "")))
    if shown is None:
        shown = ((_targets(name, admin_dir) or [name])[0], "", "")
    return Preview(name, *shown, tuple(dict.fromkeys(problems)))


def validate(name: str, body: str, admin_dir: Path | None) -> list[Problem]:
    return list(render_draft(name, body, admin_dir).problems)


# -- the history -------------------------------------------------------------------------------

def history(session: Session, name: str, *, limit: int = 100) -> list[TemplateVersion]:
    """Newest first."""
    return list(session.scalars(select(TemplateVersion).where(TemplateVersion.name == name)
                                .order_by(TemplateVersion.id.desc()).limit(limit)))


def latest(session: Session, name: str) -> TemplateVersion | None:
    found = history(session, name, limit=1)
    return found[0] if found else None


def latest_versions(session: Session) -> dict[str, TemplateVersion]:
    """Each template's newest version (templates never saved are absent)."""
    newest = select(func.max(TemplateVersion.id)).group_by(TemplateVersion.name)
    rows = session.scalars(select(TemplateVersion).where(TemplateVersion.id.in_(newest)))
    return {row.name: row for row in rows}


def drifted(name: str, newest: TemplateVersion | None, admin_dir: Path | None) -> bool:
    """The override folder differs from the history (someone edited or removed the file by hand)."""
    on_disk = override_source(name, admin_dir)
    expected = None if newest is None or newest.action == BUILTIN else newest.body
    return on_disk != expected


# -- saving ------------------------------------------------------------------------------------

OnSaved = Callable[[Session, TemplateVersion], None]


def save(factory: sessionmaker[Session], name: str, body: str, *, admin_dir: Path | None, by: str,
         now: dt.datetime, note: str = "", base: int | None = None, user_id: int | None = None,
         on_saved: OnSaved | None = None) -> TemplateVersion:
    """Save `body` as a new version of `name` and write the override file.

    `base`: the newest version id the editor started from (0: none); a newer one refuses the
    save (:class:`StaleVersion`). `on_saved` runs in the same transaction (the console's audit
    row). Raises :class:`TemplateInvalid` for a draft that does not render: nothing is written.
    """
    body = normalise(body)
    return _commit(factory, name, body, action=SAVE, admin_dir=admin_dir, by=by, now=now, note=note, base=base,
                   user_id=user_id, on_saved=on_saved)


def revert(factory: sessionmaker[Session], name: str, version_id: int, *, admin_dir: Path | None, by: str,
           now: dt.datetime, note: str = "", base: int | None = None, user_id: int | None = None,
           on_saved: OnSaved | None = None) -> TemplateVersion:
    """A new version carrying version `version_id`'s body (checked again: the partials or the
    bot may have changed since). Reverting to a 組み込みに戻す version goes back to built-in."""
    with factory() as session:
        old = session.get(TemplateVersion, version_id)
    if old is None or old.name != name:
        raise UnknownTemplate(f"{name} に版 #{version_id} はありません。")
    action = BUILTIN if old.action == BUILTIN else REVERT
    body = builtin_source(name) if action == BUILTIN else old.body
    return _commit(factory, name, body, action=action, admin_dir=admin_dir, by=by, now=now, note=note, base=base,
                   user_id=user_id, on_saved=on_saved, reverted_from=old.id)


def reset_to_builtin(factory: sessionmaker[Session], name: str, *, admin_dir: Path | None, by: str,
                     now: dt.datetime, note: str = "", base: int | None = None, user_id: int | None = None,
                     on_saved: OnSaved | None = None) -> TemplateVersion:
    """Remove the override: the bot renders the built-in template again (recorded as a version
    whose body is the built-in text of today)."""
    return _commit(factory, name, builtin_source(name), action=BUILTIN, admin_dir=admin_dir, by=by, now=now,
                   note=note, base=base, user_id=user_id, on_saved=on_saved)


def _commit(factory: sessionmaker[Session], name: str, body: str, *, action: str, admin_dir: Path | None, by: str,
            now: dt.datetime, note: str, base: int | None, user_id: int | None, on_saved: OnSaved | None,
            reverted_from: int | None = None) -> TemplateVersion:
    check_name(name)
    if admin_dir is None:
        raise NoAdminFolder("上書きフォルダ（config.toml の [templates] dir）が設定されていないため保存できません。")
    if action == BUILTIN and override_source(name, admin_dir) is None:
        with factory() as session:
            if not drifted(name, latest(session, name), admin_dir):
                raise TemplateStoreError("すでに組み込みのテンプレートが使われています。")
    if action != BUILTIN:
        if body == current_source(name, admin_dir):
            with factory() as session:
                if not drifted(name, latest(session, name), admin_dir):
                    raise TemplateStoreError("変更がないため保存しませんでした（いま使われている内容と同じです）。")
        problems = validate(name, body, admin_dir)  # outside the lock: rendering takes a moment
        if problems:
            raise TemplateInvalid(problems)
    path = admin_dir / name
    undo: Callable[[], None] | None = None
    try:
        with db.transaction(factory) as session:
            db.serialise(session, "template_versions")  # one save at a time, across processes
            newest = latest(session, name)
            if base is not None and (newest.id if newest else 0) != base:
                if newest is None:
                    raise TemplateStoreError("履歴が見つかりません。ページを開き直してください。")
                raise StaleVersion(f"{newest.created_by} さんが新しい版（#{newest.id}）を保存しています。"
                                   "内容を確かめてから、もう一度保存してください。", newest.id)
            row = TemplateVersion(name=name, action=action, body=body, created_at=now, created_by=by[:100],
                                  user_id=user_id, note=note.strip()[:MAX_NOTE], reverted_from=reverted_from)
            session.add(row)
            session.flush()
            if on_saved is not None:
                on_saved(session, row)
                session.flush()
            # Last step before the commit: put the file in place (undone below if the commit fails).
            undo = _replace_file(path, None if action == BUILTIN else body)
    except BaseException:
        if undo is not None:
            undo()
        raise
    log.info("template %s: version %s (%s) by %s", name, row.id, action, by)
    return row


def _replace_file(path: Path, text: str | None) -> Callable[[], None]:
    """Write `text` to `path` atomically (None: remove it); return a function that restores
    the previous state."""
    previous = path.read_bytes() if path.is_file() else None
    if text is None:
        path.unlink(missing_ok=True)
    else:
        _atomic_write(path, text.encode("utf-8"))

    def undo() -> None:
        try:
            if previous is None:
                path.unlink(missing_ok=True)
            else:
                _atomic_write(path, previous)
        except OSError:
            log.exception("template %s: could not restore the file after a failed save", path)

    return undo


def _atomic_write(path: Path, data: bytes) -> None:
    # The daemon reads the folder at any moment: it sees the old file or the new one, never
    # half of one. The temp name (".name.xxxx.tmp") is no template the bot would load.
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
