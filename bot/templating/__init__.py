"""Jinja2 templates for every text a person reads. Built-in ones live in ``templates/``; an
admin folder from config (``[templates] dir``) overrides them file by file, partials
(``_defects.j2``) included.

Rendered in Jinja2's immutable sandbox with undefined names as errors; ``.html.j2`` files are
autoescaped. A broken admin template (syntax error, undefined name, sandbox violation, any
other error) never stops the bot and never sends a half-rendered mail: the whole mail is
rendered again from the built-in templates, and the breakage is logged and kept in
:attr:`Templates.breakages`, which the office digest lists.

Templates are re-read when their file changes, or when an admin adds or removes an override,
without a restart (``auto_reload`` plus :class:`_OverlayLoader`'s up-to-date check).

A template may export values next to its body with a top-level ``{% set %}``: the digest's
text template sets ``subject``, so the subject line is admin-editable too
(:meth:`Templates.render_mail`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import posixpath
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateSyntaxError
from jinja2.environment import Environment
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.db import PROJECT_ROOT

log = logging.getLogger("bot.templating")

BUILTIN_DIR = PROJECT_ROOT / "templates"

# A long-running daemon must not grow without bound when one template breaks on every mail:
# repeats of a breakage only bump its count, and at most this many distinct ones are kept.
MAX_BREAKAGES = 50


class TemplateRenderError(Exception):
    """A template failed; ``where`` names the file and line (``path:line``)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True)
class Breakage:
    """An admin template that failed and was replaced by the built-in one."""

    template: str  # the name rendered, e.g. "reject.txt.j2"
    where: str  # file:line of the error (the admin's file, or a partial it pulled in)
    message: str
    first_at: dt.datetime
    last_at: dt.datetime
    count: int = 1

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class Rendered:
    """A rendered template: its text and the values it exported with a top-level ``{% set %}``."""

    text: str
    exports: Mapping[str, Any]


class _OverlayLoader(FileSystemLoader):
    """Admin folder first, then the built-in one.

    FileSystemLoader's own up-to-date check only watches the file it found. This one also
    notices when the search would now find a different file (an admin adds an override, or
    deletes one), so such a change takes effect without a restart too.
    """

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)

        def still_current() -> bool:
            return uptodate() and self._resolve(template) == filename

        return source, filename, still_current

    def _resolve(self, template: str) -> str | None:
        pieces = split_template_path(template)
        for searchpath in self.searchpath:
            candidate = posixpath.join(searchpath, *pieces)
            if os.path.isfile(candidate):
                return os.path.normpath(candidate)
        return None


def _autoescape(name: str | None) -> bool:
    # HTML templates are escaped; text mails are not.
    return bool(name) and str(name).endswith((".html", ".html.j2"))


def make_environment(*directories: Path) -> ImmutableSandboxedEnvironment:
    """A sandboxed environment searching `directories` in order (first one wins)."""
    return ImmutableSandboxedEnvironment(
        loader=_OverlayLoader([str(d) for d in directories]),
        undefined=StrictUndefined,
        autoescape=_autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=True,  # re-read a template when its file changes, without a restart
    )


def describe_error(err: BaseException, name: str, directories: Iterable[Path]) -> tuple[str, str]:
    """(``file:line``, message) for a template error, naming the innermost template file."""
    if isinstance(err, TemplateSyntaxError):
        where = err.filename or err.name or name
        return f"{where}:{err.lineno}", f"{type(err).__name__}: {err.message}"
    dirs = [str(d) for d in directories]
    found = _innermost_template_frame(err, dirs)
    if found is None:
        where = str(Path(dirs[0]) / name) if dirs else name
    else:
        where = f"{found[0]}:{found[1]}"
    return where, f"{type(err).__name__}: {err}"


def _innermost_template_frame(err: BaseException, dirs: list[str]) -> tuple[str, int] | None:
    # Jinja rewrites tracebacks so template frames carry the template's file name and line.
    tb = err.__traceback__
    found: tuple[str, int] | None = None
    while tb is not None:
        filename = str(tb.tb_frame.f_code.co_filename)
        if any(filename.startswith(d.rstrip("/") + os.sep) for d in dirs):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def render_in(
    env: ImmutableSandboxedEnvironment, name: str, context: Mapping[str, Any], directories: Iterable[Path]
) -> Rendered:
    """Render `name` completely (never a partial text) or raise :class:`TemplateRenderError`."""
    dirs = list(directories)
    try:
        template = env.get_template(name)
        try:
            # make_module renders the body and keeps the top-level {% set %} values; unlike
            # render() it does not rewrite the traceback, so let Jinja do that here.
            module = template.make_module(dict(context))
        except Exception:  # noqa: BLE001 - re-raised by handle_exception with template lines
            env.handle_exception()
        exports = {k: v for k, v in vars(module).items() if not k.startswith("_")}
        return Rendered(text=str(module), exports=exports)
    except Exception as err:  # noqa: BLE001 - every failure becomes one error naming file:line
        where, message = describe_error(err, name, dirs)
        raise TemplateRenderError(where, message) from err


class Templates:
    """The templates the bot renders, with the admin's overrides and their breakages.

    Thread-safe: the daemon renders replies in the main thread and the digest in the
    scheduler's thread.
    """

    def __init__(self, admin_dir: Path | str | None = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.admin_dir = Path(admin_dir) if admin_dir else None
        self._clock = clock
        self._lock = threading.Lock()
        self._breakages: list[Breakage] = []
        self._builtin = make_environment(BUILTIN_DIR)
        self._admin = make_environment(self.admin_dir, BUILTIN_DIR) if self.admin_dir else None
        if self.admin_dir is not None and not self.admin_dir.is_dir():
            log.warning("admin template folder %s not found: using the built-in templates", self.admin_dir)

    @classmethod
    def from_config(cls, cfg: Any) -> Templates:
        """From a :class:`bot.config.Config` (its ``[templates] dir``)."""
        return cls(admin_dir=cfg.templates.dir or None)

    # -- rendering ------------------------------------------------------------------------
    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """Render `name`: the admin's version when it exists and works, else the built-in one."""
        return self.render_mail(name, context).text

    def render_mail(self, name: str, context: Mapping[str, Any], *, required: tuple[str, ...] = ()) -> Rendered:
        """Like :meth:`render`, also returning the template's exported values; an admin
        template that does not set every name in `required` counts as broken."""
        if self._admin is not None and self._uses_admin_files(name):
            assert self.admin_dir is not None
            try:
                rendered = render_in(self._admin, name, context, [self.admin_dir, BUILTIN_DIR])
                missing = [key for key in required if not str(rendered.exports.get(key, "")).strip()]
                if missing:
                    raise TemplateRenderError(
                        str(self.admin_dir / name),
                        "{% set " + missing[0] + " = … %} is missing (the mail needs it)",
                    )
                return rendered
            except TemplateRenderError as err:
                self._record(name, err)
        return self.render_builtin_mail(name, context)

    def render_builtin(self, name: str, context: Mapping[str, Any]) -> str:
        return self.render_builtin_mail(name, context).text

    def render_builtin_mail(self, name: str, context: Mapping[str, Any]) -> Rendered:
        """The built-in template only; its failure is a bug in the bot and raises."""
        return render_in(self._builtin, name, context, [BUILTIN_DIR])

    def _uses_admin_files(self, name: str) -> bool:
        # An admin folder holding only a partial (_defects.j2) still changes every mail that
        # imports it, so any .j2 file there routes rendering through the overlay.
        admin = self.admin_dir
        if admin is None or not admin.is_dir():
            return False
        return (admin / name).is_file() or any(admin.glob("_*.j2"))

    # -- breakages ------------------------------------------------------------------------
    def _record(self, name: str, err: TemplateRenderError) -> None:
        now = self._clock()
        log.error("admin template %s broken, using the built-in one: %s: %s", name, err.where, err.message)
        with self._lock:
            for i, known in enumerate(self._breakages):
                if (known.where, known.message) == (err.where, err.message):
                    self._breakages[i] = replace(known, last_at=now, count=known.count + 1)
                    return
            self._breakages.append(Breakage(name, err.where, err.message, now, now))
            del self._breakages[:-MAX_BREAKAGES]

    @property
    def breakages(self) -> list[Breakage]:
        """Breakages since the start (or since they were last reported), oldest first."""
        with self._lock:
            return list(self._breakages)

    def forget_breakages(self, reported: Iterable[Breakage]) -> None:
        """Drop breakages a digest has reported; a template still broken is recorded again
        the next time it is used."""
        done = {(b.where, b.message, b.last_at) for b in reported}
        with self._lock:
            self._breakages = [b for b in self._breakages if (b.where, b.message, b.last_at) not in done]

    def source_path(self, name: str) -> Path:
        """The file `name` is read from now: the admin's override, else the built-in one."""
        if self.admin_dir is not None and (self.admin_dir / name).is_file():
            return self.admin_dir / name
        return BUILTIN_DIR / name
