"""``bot templates check | preview NAME [--out FILE]``: every mail template rendered with its
sample data (bot/templating/samples.py), and one written to a file to look at."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bot.commands.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from bot.config import Config


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    tpl = sub.add_parser("templates", help="mail templates")
    tpl_sub = tpl.add_subparsers(dest="templates_command", required=True, parser_class=parser_class)
    tpl_sub.add_parser("check", help="render every template with sample data; non-zero exit on any error")
    pv = tpl_sub.add_parser("preview", help="write one template rendered with sample data to a file")
    pv.add_argument("name", help="template name, e.g. reject.txt.j2 or digest.html")
    pv.add_argument("--out", help="output file (default: a temp file)")


def cli_templates(args: argparse.Namespace, cfg: Config) -> int:
    if args.templates_command == "preview":
        return cli_templates_preview(args, cfg)
    return cli_templates_check(args, cfg)


def cli_templates_check(args: argparse.Namespace, cfg: Config) -> int:
    """`bot templates check`: exit 0 when every template renders, 1 (naming file:line) if not."""
    from bot.templating.samples import render_all

    report = render_all(cfg)
    folders = ", ".join(map(str, report.directories))
    for p in report.problems:
        print(f"NG {p}", file=sys.stderr)
    if not report.ok:
        print(f"templates: {len(report.problems)} 件のエラー / error(s) in {folders}", file=sys.stderr)
        return EXIT_ERROR
    print(f"templates OK: {report.files} files in {folders}")
    return EXIT_OK


def cli_templates_preview(args: argparse.Namespace, cfg: Config) -> int:
    """`bot templates preview NAME [--out FILE]`: render NAME with its sample data, the way the
    bot would (the admin's override when there is one), write it to a file, print the path.

    A broken template is an error here (exit 1, naming file:line), not a silent fallback:
    the admin previews to see their own template.
    """
    from bot.templating import TemplateRenderError, Templates
    from bot.templating.samples import NoSample, UnknownTemplate, preview

    try:
        shown = preview(Templates.from_config(cfg), str(args.name))
    except UnknownTemplate as err:
        print(f"bot templates preview: テンプレートがありません / unknown template {err.given!r} "
              f"(available: {', '.join(err.available)})", file=sys.stderr)
        return EXIT_USAGE
    except NoSample as err:
        print(f"bot templates preview: {err}: サンプルデータがありません / no sample data", file=sys.stderr)
        return EXIT_ERROR
    except TemplateRenderError as err:
        print(f"NG {err.where}: {err.message}", file=sys.stderr)
        return EXIT_ERROR
    out = getattr(args, "out", None)
    path = Path(out) if out else Path(tempfile.mkdtemp(prefix="bot-preview-")) / shown.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(shown.rendered.text, encoding="utf-8")
    subject = shown.rendered.exports.get("subject")
    if subject:
        print(f"件名 / subject: {subject}", file=sys.stderr)
    print(path)
    return EXIT_OK
