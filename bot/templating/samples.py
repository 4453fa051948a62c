"""The sample data of every mail template, and the check that renders each template with
it: ``bot templates check`` / ``preview`` (bot/commands/templates.py), the digest's look at
the admin folder, the console's template editor (bot/templating/store.py).

Each module that owns a template keeps its sample beside it and registers it with
:func:`register_sample`: bot/actions/reply_samples.py (``reject.txt.j2``, and the
``_defects.j2`` it shows), bot/digest/samples.py (``digest.txt.j2``, ``digest.html.j2``),
bot/vendor/samples.py (``vendor_batch.txt.j2``). They import this module, never the reverse
at import time (nothing here imports the digest or the vendor batch): they are named in
:data:`SAMPLE_OWNERS` and imported on the first look-up. A template without
a sample is reported as an error naming its file, so a new template cannot slip past the
check unrendered. A sample may be a callable returning the context, built when needed.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.templating import (
    BUILTIN_DIR,
    Rendered,
    TemplateRenderError,
    Templates,
    describe_error,
    make_environment,
    render_in,
)

SampleData = Mapping[str, Any] | Callable[[], Mapping[str, Any]]

# The sample modules of the templates' owners; each registers its samples when imported.
SAMPLE_OWNERS = ("bot.actions.reply_samples", "bot.digest.samples", "bot.vendor.samples", "bot.jobs.link_items",
                 "bot.digest.monthly")


class _Registry(MutableMapping[str, SampleData]):
    """Template name → sample; reading it first imports the :data:`SAMPLE_OWNERS`."""

    def __init__(self) -> None:
        self._data: dict[str, SampleData] = {}
        self._lock = threading.RLock()  # the daemon's threads may ask first at the same time
        self._loaded = False
        self._loading = False

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded or self._loading:  # an owner being imported registers, it does not read
                return
            self._loading = True
            try:
                for module in SAMPLE_OWNERS:
                    try:
                        importlib.import_module(module)
                    except ModuleNotFoundError as err:
                        if err.name != module:  # a module that exists but fails to import is a real error
                            raise
                self._loaded = True
            finally:
                self._loading = False

    def __getitem__(self, name: str) -> SampleData:
        self._load()
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(dict(self._data))

    def __len__(self) -> int:
        self._load()
        return len(self._data)

    def __setitem__(self, name: str, data: SampleData) -> None:
        self._data[name] = data

    def __delitem__(self, name: str) -> None:
        del self._data[name]


SAMPLES: MutableMapping[str, SampleData] = _Registry()


def register_sample(name: str, data: SampleData) -> None:
    """Give template `name` (e.g. ``"vendor_batch.txt.j2"``) its sample context: a mapping,
    or a callable returning one (called at check time)."""
    SAMPLES[name] = data


def sample_for(name: str) -> Mapping[str, Any] | None:
    data = SAMPLES.get(name)
    if data is None:
        return None
    return data() if callable(data) else data


def template_names(directory: Path) -> list[str]:
    """The mails in `directory`: every ``*.j2`` except partials (``_name.j2``)."""
    return sorted(p.name for p in directory.glob("*.j2") if not p.name.startswith("_"))


def partial_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("_*.j2"))


@dataclass(frozen=True)
class TemplateProblem:
    """One error found by the check: ``where`` is ``file:line`` (or the file alone)."""

    where: str
    message: str
    no_sample: bool = False  # a template nobody gave sample data yet (not the admin's fault)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def check_directory(directory: Path, *, overlay: bool) -> list[TemplateProblem]:
    """Compile every template of `directory` and render each mail with its sample.

    `overlay`: `directory` is an admin folder, searched before the built-in one (as the bot
    does); its partials then affect built-in mails too, so those are rendered as well.
    """
    if not directory.is_dir():
        return [TemplateProblem(str(directory), "template folder not found")]
    dirs = [directory, BUILTIN_DIR] if overlay else [directory]
    env = make_environment(*dirs)
    problems: list[TemplateProblem] = []
    for name in partial_names(directory):
        try:
            env.get_template(name)  # partials are only compiled: their macros need callers
        except Exception as err:  # noqa: BLE001 - report every template's breakage
            problems.append(_problem(err, name, dirs))
    names = set(template_names(directory))
    if overlay and partial_names(directory):
        names |= set(template_names(BUILTIN_DIR))
    for name in sorted(names):
        sample = sample_for(name)
        if sample is None:
            problems.append(TemplateProblem(
                str(directory / name),
                "no sample data for this template name (add it with "
                "bot.templating.samples.register_sample)",
                no_sample=True,
            ))
            continue
        try:
            render_in(env, name, sample, dirs)
        except TemplateRenderError as err:
            problems.append(TemplateProblem(err.where, err.message))
    return _unique(problems)


def _problem(err: Exception, name: str, dirs: list[Path]) -> TemplateProblem:
    where, message = describe_error(err, name, dirs)
    return TemplateProblem(where, message)


def _unique(problems: list[TemplateProblem]) -> list[TemplateProblem]:
    seen: set[tuple[str, str]] = set()
    out: list[TemplateProblem] = []
    for p in problems:
        if (p.where, p.message) not in seen:
            seen.add((p.where, p.message))
            out.append(p)
    return out


def check_problems(cfg: Config) -> list[TemplateProblem]:
    """Render every template (built-in, and the admin's where present)."""
    problems = check_directory(BUILTIN_DIR, overlay=False)
    if cfg.templates.dir:
        problems += check_directory(Path(cfg.templates.dir), overlay=True)
    return _unique(problems)


def check_all(cfg: Config) -> list[str]:
    """Render every template (built-in, and the admin's where present); return the errors,
    each ``file:line: message``."""
    return [str(p) for p in check_problems(cfg)]


def check_admin(templates: Templates) -> list[TemplateProblem]:
    """The admin folder's problems, for the digest: a broken override shows up there even
    when no process has used it yet. Templates without samples are a developer's matter and
    are left to `bot templates check`."""
    if templates.admin_dir is None:
        return []
    return [p for p in check_directory(templates.admin_dir, overlay=True) if not p.no_sample]


@dataclass(frozen=True)
class CheckReport:
    """What ``bot templates check`` found: the problems, and how many files it looked at."""

    problems: tuple[TemplateProblem, ...]
    files: int  # mails and partials in the folders checked
    directories: tuple[Path, ...]  # the built-in folder, then the admin's when configured

    @property
    def ok(self) -> bool:
        return not self.problems


def render_all(cfg: Config) -> CheckReport:
    """Compile every template and render every mail with its sample (built-in, and the
    admin's where present)."""
    dirs = [BUILTIN_DIR] + ([Path(cfg.templates.dir)] if cfg.templates.dir else [])
    problems = check_problems(cfg)
    files = sum(len(template_names(d)) + len(partial_names(d)) for d in dirs if d.is_dir())
    return CheckReport(tuple(problems), files, tuple(dirs))


class UnknownTemplate(LookupError):
    """No mail template of that name (built-in or the admin's)."""

    def __init__(self, given: str, available: list[str]) -> None:
        super().__init__(given)
        self.given = given
        self.available = available


class NoSample(LookupError):
    """The template exists but nobody registered sample data for it."""


@dataclass(frozen=True)
class Preview:
    name: str  # the template's file name, e.g. reject.txt.j2
    rendered: Rendered

    @property
    def suffix(self) -> str:
        return ".html" if self.name.endswith((".html.j2", ".html")) else ".txt"

    @property
    def filename(self) -> str:
        """A file name for the rendered mail: ``reject.txt``, ``digest.html``."""
        return self.name.removesuffix(".j2").rsplit(".", 1)[0] + self.suffix


def available_templates(templates: Templates) -> list[str]:
    """The mails a preview can render: built-in, and the admin's own."""
    admin = templates.admin_dir
    return sorted(set(template_names(BUILTIN_DIR))
                  | (set(template_names(admin)) if admin and admin.is_dir() else set()))


def preview(templates: Templates, given: str) -> Preview:
    """Render the mail `given` (``digest.html.j2``, ``digest.html``, an unambiguous ``reject``)
    with its sample, the way the bot would: the admin's override when there is one.

    A broken template raises :class:`TemplateRenderError` (naming file:line) rather than
    falling back: the admin previews to see their own template. :class:`UnknownTemplate`,
    :class:`NoSample` otherwise.
    """
    available = available_templates(templates)
    name = _resolve_name(given, available)
    if name is None:
        raise UnknownTemplate(given, available)
    sample = sample_for(name)
    if sample is None:
        raise NoSample(name)
    dirs = [templates.admin_dir, BUILTIN_DIR] if templates.admin_dir else [BUILTIN_DIR]
    return Preview(name, render_in(make_environment(*dirs), name, sample, dirs))


def _resolve_name(given: str, available: list[str]) -> str | None:
    """Accept ``digest.html.j2``, ``digest.html``; a bare ``reject`` when it is unambiguous."""
    for candidate in (given, given + ".j2"):
        if candidate in available:
            return candidate
    matches = [n for n in available if n.split(".", 1)[0] == given]
    return matches[0] if len(matches) == 1 else None
