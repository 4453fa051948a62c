"""Templates admins edit: the admin folder overrides the built-in templates file by file; a
broken override (syntax, undefined name, sandbox violation) falls back to the built-in one and
is recorded with its file and line; edits take effect without a restart; `bot templates
check` and `preview` name file and line."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

import pytest

from bot.commands.templates import cli_templates_check, cli_templates_preview
from bot.config import Config, TemplatesConfig, load_config
from bot.templating import BUILTIN_DIR, TemplateRenderError, Templates
from bot.templating import samples as template_samples
from bot.templating.samples import SAMPLES, check_all, register_sample

REJECT = "reject.txt.j2"
CONTEXT = dict(SAMPLES[REJECT])  # type: ignore[arg-type]


def builtin_reject() -> str:
    return Templates().render(REJECT, CONTEXT)


def admin(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "admin-templates"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def cfg_with(folder: Path | None) -> Config:
    return load_config(env={}).replace(templates=TemplatesConfig(dir=str(folder) if folder else ""))


def touch_later(path: Path, seconds: int = 10) -> None:
    """Move the mtime on explicitly: two writes within one second can share an mtime."""
    stat = path.stat()
    os.utime(path, (stat.st_atime + seconds, stat.st_mtime + seconds))


# -- overrides ------------------------------------------------------------------------------

def test_admin_override_is_used(tmp_path: Path) -> None:
    """Given an admin reject.txt.j2, when a reply is rendered, then the admin's text is used."""
    folder = admin(tmp_path, {REJECT: "{{ sender_name }} 様へ 管理者版 {{ defects_list|length }}件\n"})
    templates = Templates(admin_dir=folder)
    assert templates.render(REJECT, CONTEXT) == f"内田 太郎 様へ 管理者版 {len(CONTEXT['defects_list'])}件\n"
    assert templates.breakages == []
    assert templates.source_path(REJECT) == folder / REJECT


def test_admin_partial_overrides_builtin_mail(tmp_path: Path) -> None:
    """An admin folder with only _defects.j2 changes the sentences of the built-in reply."""
    folder = admin(tmp_path, {"_defects.j2": "{% macro explain(d) %}説明:{{ d.code }}{% endmacro %}"})
    text = Templates(admin_dir=folder).render(REJECT, CONTEXT)
    assert "1. 【件名の依頼種別が不明】説明:UNKNOWN_KIND" in text


def test_no_admin_folder_means_builtin(tmp_path: Path) -> None:
    templates = Templates(admin_dir=tmp_path / "missing")
    assert templates.render(REJECT, CONTEXT) == builtin_reject()
    assert templates.breakages == []


# -- breakages ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("source", "line", "error"),
    [
        ("ご担当者様\n{% if %}\n", 2, "TemplateSyntaxError"),
        ("ご担当者様\n\n{{ no_such_name }}\n", 3, "UndefinedError"),
        ("ご担当者様\n{{ ''.__class__.__mro__ }}\n", 2, "SecurityError"),
        ("{{ sender_name }}\n{{ ''.__class__.__base__.__subclasses__() }}\n", 2, "SecurityError"),
        ("{{ sender_name }}\n{{ defects_list.append(1) }}\n", 2, "SecurityError"),
    ],
    ids=["syntax", "undefined", "mro", "subclasses", "mutation"],
)
def test_broken_admin_template_falls_back_to_builtin(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                     source: str, line: int, error: str) -> None:
    """Given a broken admin template, when rendered, then the whole mail is the built-in one
    (never a half-rendered text) and the breakage names file, line and error, in the log too."""
    folder = admin(tmp_path, {REJECT: source})
    templates = Templates(admin_dir=folder)
    assert templates.render(REJECT, CONTEXT) == builtin_reject()
    [breakage] = templates.breakages
    assert breakage.where == f"{folder / REJECT}:{line}"
    assert error in breakage.message
    assert breakage.template == REJECT and breakage.count == 1
    assert f"{folder / REJECT}:{line}" in caplog.text


def test_text_before_the_error_is_not_sent(tmp_path: Path) -> None:
    folder = admin(tmp_path, {REJECT: "途中まで書いた本文\n" * 5 + "{{ missing.name }}\n"})
    text = Templates(admin_dir=folder).render(REJECT, CONTEXT)
    assert "途中まで" not in text and text == builtin_reject()


def test_repeated_breakage_is_counted_once(tmp_path: Path) -> None:
    folder = admin(tmp_path, {REJECT: "{{ nope }}"})
    moments = iter([dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 24, 2, tzinfo=dt.UTC)])
    templates = Templates(admin_dir=folder, clock=lambda: next(moments))
    templates.render(REJECT, CONTEXT)
    templates.render(REJECT, CONTEXT)
    [b] = templates.breakages
    assert (b.count, b.first_at.hour, b.last_at.hour) == (2, 1, 2)
    templates.forget_breakages([b])
    assert templates.breakages == []


def test_broken_builtin_raises_naming_file(tmp_path: Path) -> None:
    """The built-in templates are the bot's own: their failure is a bug and is not hidden."""
    with pytest.raises(TemplateRenderError) as info:
        Templates().render(REJECT, {})
    assert str(BUILTIN_DIR / REJECT) in info.value.where


def test_exported_subject_is_required(tmp_path: Path) -> None:
    """An admin digest.txt.j2 that drops the subject line counts as broken."""
    folder = admin(tmp_path, {"digest.txt.j2": "本文だけ\n"})
    templates = Templates(admin_dir=folder)
    ctx = template_samples.sample_for("digest.txt.j2")
    assert ctx is not None
    rendered = templates.render_mail("digest.txt.j2", ctx, required=("subject",))
    assert rendered.exports["subject"].startswith("【USEN SPOT】日次レポート")
    [b] = templates.breakages
    assert "subject" in b.message and b.where == str(folder / "digest.txt.j2")


def test_html_is_autoescaped_text_is_not(tmp_path: Path) -> None:
    folder = admin(tmp_path, {"x.html.j2": "<p>{{ v }}</p>", "x.txt.j2": "{{ v }}"})
    templates = Templates(admin_dir=folder)
    assert templates.render("x.html.j2", {"v": "<b>&"}) == "<p>&lt;b&gt;&amp;</p>"
    assert templates.render("x.txt.j2", {"v": "<b>&"}) == "<b>&"


# -- reloading without a restart -------------------------------------------------------------

def test_edited_admin_template_is_reread(tmp_path: Path) -> None:
    """Given a rendered admin template, when the admin edits it, the next render uses the edit."""
    folder = admin(tmp_path, {REJECT: "版1 {{ sender_name }}\n"})
    templates = Templates(admin_dir=folder)
    assert templates.render(REJECT, CONTEXT) == "版1 内田 太郎\n"
    (folder / REJECT).write_text("版2 {{ sender_name }}\n", encoding="utf-8")
    touch_later(folder / REJECT)
    assert templates.render(REJECT, CONTEXT) == "版2 内田 太郎\n"
    # A fix after a breakage takes effect the same way.
    (folder / REJECT).write_text("{% if %}", encoding="utf-8")
    touch_later(folder / REJECT, 20)
    assert templates.render(REJECT, CONTEXT) == builtin_reject()
    (folder / REJECT).write_text("版3\n", encoding="utf-8")
    touch_later(folder / REJECT, 30)
    assert templates.render(REJECT, CONTEXT) == "版3\n"


def test_override_added_or_removed_while_running(tmp_path: Path) -> None:
    folder = admin(tmp_path, {"_unrelated.j2": ""})  # routes rendering through the admin folder
    templates = Templates(admin_dir=folder)
    assert templates.render(REJECT, CONTEXT) == builtin_reject()
    (folder / REJECT).write_text("新しい上書き\n", encoding="utf-8")
    assert templates.render(REJECT, CONTEXT) == "新しい上書き\n"
    (folder / REJECT).unlink()
    assert templates.render(REJECT, CONTEXT) == builtin_reject()


# -- bot templates check / preview ---------------------------------------------------------

def test_builtin_templates_with_samples_render() -> None:
    """Every built-in template this module has a sample for renders (vendor templates are
    checked once their samples are registered)."""
    for name in template_samples.template_names(BUILTIN_DIR):
        sample = template_samples.sample_for(name)
        if sample is not None:
            Templates().render_builtin(name, sample)


def test_check_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _only_sampled_builtins(monkeypatch)
    folder = admin(tmp_path, {REJECT: "一行目\n二行目\n{{ oops }}\n", "digest.html.j2": "<p>\n{% for %}\n"})
    assert cli_templates_check(argparse.Namespace(), cfg_with(folder)) == 1
    err = capsys.readouterr().err
    assert f"{folder / REJECT}:3: UndefinedError" in err
    assert f"{folder / 'digest.html.j2'}:2: TemplateSyntaxError" in err


def test_check_passes_on_good_templates(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _only_sampled_builtins(monkeypatch)
    folder = admin(tmp_path, {REJECT: "{{ sender_name }} 様\n"})
    assert cli_templates_check(argparse.Namespace(), cfg_with(folder)) == 0
    assert "templates OK" in capsys.readouterr().out


def test_check_reports_a_broken_admin_partial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _only_sampled_builtins(monkeypatch)
    folder = admin(tmp_path, {"_defects.j2": "{% macro explain(d) %}\n{{ d.nothing_here }}\n{% endmacro %}"})
    errors = check_all(cfg_with(folder))
    assert any(e.startswith(f"{folder / '_defects.j2'}:2: UndefinedError") for e in errors), errors


def test_template_without_sample_is_an_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _only_sampled_builtins(monkeypatch)
    folder = admin(tmp_path, {"new_mail.txt.j2": "{{ x }}"})
    assert check_all(cfg_with(folder)) == [
        f"{folder / 'new_mail.txt.j2'}: no sample data for this template name "
        "(add it with bot.templating.samples.register_sample)"
    ]
    register_sample("new_mail.txt.j2", lambda: {"x": 1})
    try:
        assert check_all(cfg_with(folder)) == []
    finally:
        SAMPLES.pop("new_mail.txt.j2")


def test_missing_admin_folder_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _only_sampled_builtins(monkeypatch)
    assert check_all(cfg_with(tmp_path / "nope")) == [f"{tmp_path / 'nope'}: template folder not found"]


def test_preview_writes_the_rendered_mail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "reject.txt"
    assert cli_templates_preview(argparse.Namespace(name="reject.txt.j2", out=str(out)), cfg_with(None)) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_text(encoding="utf-8") == builtin_reject()


def test_preview_html_by_default_goes_to_a_html_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_templates_preview(argparse.Namespace(name="digest.html", out=None), cfg_with(None)) == 0
    path = Path(capsys.readouterr().out.strip())
    try:
        assert path.suffix == ".html"
        assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    finally:
        path.unlink()
        path.parent.rmdir()


def test_preview_uses_and_reports_the_admin_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = admin(tmp_path, {REJECT: "管理者版 {{ customer_code }}\n"})
    out = tmp_path / "p.txt"
    assert cli_templates_preview(argparse.Namespace(name="reject", out=str(out)), cfg_with(folder)) == 0
    assert out.read_text(encoding="utf-8") == "管理者版 988776654\n"
    (folder / REJECT).write_text("ok\n{{ ''.__class__ }}\n", encoding="utf-8")
    touch_later(folder / REJECT)
    capsys.readouterr()
    assert cli_templates_preview(argparse.Namespace(name="reject", out=str(out)), cfg_with(folder)) == 1
    assert f"{folder / REJECT}:2: SecurityError" in capsys.readouterr().err


def test_preview_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_templates_preview(argparse.Namespace(name="nothing", out=None), cfg_with(None)) == 2
    assert "reject.txt.j2" in capsys.readouterr().err


def _only_sampled_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Other modules add built-in templates (vendor batch, ledger) with their samples; these
    tests are about the admin folder, so the built-in check sees only what has samples."""
    original = template_samples.template_names

    def names(directory: Path) -> list[str]:
        found = original(directory)
        if directory == BUILTIN_DIR:
            return [n for n in found if n in SAMPLES]
        return found

    monkeypatch.setattr(template_samples, "template_names", names)

