"""Jinja2 templates for every text a person reads. Built-in ones live in ``templates/``; an
admin folder from config overrides them file by file.

Rendered in Jinja2's sandbox with undefined names as errors. A broken admin template never
stops the bot and never sends a half-rendered mail: the built-in template is used instead and
the breakage is logged (and kept in :attr:`Templates.breakages` for the digest).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from bot.db import PROJECT_ROOT

log = logging.getLogger("bot.templating")

BUILTIN_DIR = PROJECT_ROOT / "templates"


class TemplateRenderError(Exception):
    """A template failed; the message names the file and line."""


def _environment(directory: Path) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(directory)),
        undefined=StrictUndefined,
        # HTML templates are escaped; text mails are not.
        autoescape=lambda name: bool(name) and name.endswith((".html", ".html.j2")),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=True,  # re-read a template when its file changes, without a restart
    )
    return env


def _describe(err: Exception, name: str, directory: Path) -> str:
    if isinstance(err, TemplateSyntaxError):
        where = err.filename or str(directory / name)
        return f"{where}:{err.lineno}: {err.message}"
    lineno = _traceback_line(err, directory)
    where = str(directory / name) + (f":{lineno}" if lineno else "")
    return f"{where}: {type(err).__name__}: {err}"


def _traceback_line(err: Exception, directory: Path) -> int | None:
    tb = err.__traceback__
    line = None
    while tb is not None:
        if str(tb.tb_frame.f_code.co_filename).startswith(str(directory)):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


@dataclass
class Templates:
    admin_dir: Path | None = None
    breakages: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._builtin = _environment(BUILTIN_DIR)
        self._admin = _environment(self.admin_dir) if self.admin_dir else None

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """Render `name`: the admin's version when it exists and works, else the built-in one."""
        if self._admin is not None and self.admin_dir is not None and (self.admin_dir / name).is_file():
            try:
                return self._admin.get_template(name).render(**context)
            except (TemplateError, Exception) as err:  # noqa: BLE001 - any breakage falls back
                message = _describe(err, name, self.admin_dir)
                log.error("admin template broken, using the built-in one: %s", message)
                self.breakages.append(message)
        return self.render_builtin(name, context)

    def render_builtin(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            return self._builtin.get_template(name).render(**context)
        except Exception as err:
            raise TemplateRenderError(_describe(err, name, BUILTIN_DIR)) from err
