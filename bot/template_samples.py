"""Sample data for every template, so `bot templates check` can render each one, and the
commands that use them (``bot templates check`` / ``bot templates preview``).

A module that adds a template registers its sample with :func:`register_sample` (or adds it
to :data:`SAMPLES`); a template without a sample is reported as an error naming its file, so
a new template cannot slip past the check unrendered. A sample may be a callable returning
the context, for samples built from objects of modules that import this one.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot import classify
from bot.checks.base import Defect
from bot.config import Config
from bot.templating import BUILTIN_DIR, TemplateRenderError, Templates, make_environment, render_in

ALL_DEFECT_CODES = (
    "UNKNOWN_KIND", "CUSTOMER_CODE_MISSING", "CUSTOMER_CODE_MISMATCH", "ATTACHMENT_MISSING", "PDF_NOT_ENCRYPTED",
    "PDF_WRONG_PASSWORD", "PDF_UNREADABLE", "UNIS_ORDER_MISSING", "LINE_KIND_MISSING", "LINE_TYPE_MISSING",
    "MAIL_ADDRESS_MISSING", "MAIL_ADDRESS_INVALID", "MAIL_ADDRESS_READING_MISMATCH", "SSID_NOT_HALFWIDTH",
    "UNIT_COUNT_MISSING", "BODY_FIELD_MISSING", "PLUS_FLAG_MISMATCH", "CC_MANAGER_MISSING", "REASON_MISSING",
    "TERMINATION_DATE_MISSING", "WITHDRAWAL_TOO_LATE", "CUSTOMER_NOT_FOUND", "DESTINATION_LINE_MISSING",
    "STATE_CONFLICT",
)

_DETAIL = {
    "codes": "件名 988776654、本文 988776655", "code": "988776654", "address": "c-aoya@uspot.jp",
    "reading": "シーハイフンエー", "spelled": "c-a", "ssid": "ｋｉｔｓｕｎｅ", "chars": "ｋｉ", "labels": "店舗名、担当者名",
    "body": "有", "form": "無", "manager": "shitencho@usen.co.jp", "termination_date": "2026/11/25",
    "deadline": "2026/11/19", "state": "設置済", "request": "キャンセル申請",
}

SampleData = Mapping[str, Any] | Callable[[], Mapping[str, Any]]

SAMPLES: dict[str, SampleData] = {
    "reject.txt.j2": {
        "sender_name": "内田 太郎",
        "kind_label": "器材発注依頼",
        "original_subject": "USEN SPOT 器材発注依頼_988776654",
        "customer_code": "988776654",
        "received_at": "2026/11/24 10:15",
        "defects_list": [Defect(code, _DETAIL) for code in ALL_DEFECT_CODES],
        "show_subjects": True,
        "prefixes": [prefix for prefix, _ in classify.PREFIXES],
    },
}


def _digest_sample() -> Mapping[str, Any]:
    # bot.digest imports this module (to check admin templates for the digest), so its
    # sample is built on first use rather than at import.
    from bot.digest import sample_context

    return sample_context()


SAMPLES["digest.txt.j2"] = _digest_sample
SAMPLES["digest.html.j2"] = _digest_sample


# Modules that register samples for their templates when imported. They import this module,
# so they are loaded here on first need rather than at import.
SAMPLE_MODULES = ("bot.digest", "bot.vendor")


def _load_sample_modules() -> None:
    for module in SAMPLE_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:  # a module that exists but fails to import is a real error
                raise


def register_sample(name: str, data: SampleData) -> None:
    """Give template `name` (e.g. ``"vendor_batch.txt.j2"``) its sample context: a mapping,
    or a callable returning one (called at check time)."""
    SAMPLES[name] = data


def sample_for(name: str) -> Mapping[str, Any] | None:
    _load_sample_modules()
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
                "bot.template_samples.register_sample)",
                no_sample=True,
            ))
            continue
        try:
            render_in(env, name, sample, dirs)
        except TemplateRenderError as err:
            problems.append(TemplateProblem(err.where, err.message))
    return _unique(problems)


def _problem(err: Exception, name: str, dirs: list[Path]) -> TemplateProblem:
    from bot.templating import describe_error

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


# -- command line (wired by bot/cli.py) ---------------------------------------------------

def cli_templates_check(args: argparse.Namespace, cfg: Config) -> int:
    """`bot templates check`: exit 0 when every template renders, 1 (naming file:line) if not."""
    dirs = [BUILTIN_DIR] + ([Path(cfg.templates.dir)] if cfg.templates.dir else [])
    problems = check_problems(cfg)
    for p in problems:
        print(f"NG {p}", file=sys.stderr)
    checked = sum(len(template_names(d)) + len(partial_names(d)) for d in dirs if d.is_dir())
    if problems:
        print(f"templates: {len(problems)} 件のエラー / error(s) in {', '.join(map(str, dirs))}", file=sys.stderr)
        return 1
    print(f"templates OK: {checked} files in {', '.join(map(str, dirs))}")
    return 0


def cli_templates_preview(args: argparse.Namespace, cfg: Config) -> int:
    """`bot templates preview NAME [--out FILE]`: render NAME with its sample data, the way the
    bot would (the admin's override when there is one), write it to a file, print the path.

    A broken template is an error here (exit 1, naming file:line), not a silent fallback:
    the admin previews to see their own template.
    """
    templates = Templates.from_config(cfg)
    available = sorted(set(template_names(BUILTIN_DIR))
                       | (set(template_names(templates.admin_dir)) if templates.admin_dir and
                          templates.admin_dir.is_dir() else set()))
    name = _resolve_name(str(args.name), available)
    if name is None:
        print(f"bot templates preview: テンプレートがありません / unknown template {args.name!r} "
              f"(available: {', '.join(available)})", file=sys.stderr)
        return 2
    sample = sample_for(name)
    if sample is None:
        print(f"bot templates preview: {name}: サンプルデータがありません / no sample data", file=sys.stderr)
        return 1
    dirs = [templates.admin_dir, BUILTIN_DIR] if templates.admin_dir else [BUILTIN_DIR]
    try:
        rendered = render_in(make_environment(*dirs), name, sample, dirs)
    except TemplateRenderError as err:
        print(f"NG {err.where}: {err.message}", file=sys.stderr)
        return 1
    suffix = ".html" if name.endswith((".html.j2", ".html")) else ".txt"
    out = getattr(args, "out", None)
    if out:
        path = Path(out)
    else:
        path = Path(tempfile.mkdtemp(prefix="bot-preview-")) / (name.removesuffix(".j2").rsplit(".", 1)[0] + suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(rendered.text, encoding="utf-8")
    subject = rendered.exports.get("subject")
    if subject:
        print(f"件名 / subject: {subject}", file=sys.stderr)
    print(path)
    return 0


def _resolve_name(given: str, available: list[str]) -> str | None:
    """Accept ``digest.html.j2``, ``digest.html``; a bare ``reject`` when it is unambiguous."""
    for candidate in (given, given + ".j2"):
        if candidate in available:
            return candidate
    matches = [n for n in available if n.split(".", 1)[0] == given]
    return matches[0] if len(matches) == 1 else None
