"""The digest is the office's mail (事務センター 開業支援G; no part of it is for admins only): its
text and HTML parts name every defect and warning in the office's words (bot/domain/vocab.py), never
by code, and carry no exception name, command or config key (issue 21 point 1)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.actions.reply_samples import _DETAIL
from bot.config import Config
from bot.digest import render
from bot.digest.samples import sample_data
from bot.domain import vocab
from bot.templating import Templates
from tests.test_digest import Seeder, build, jst, seed
from tests.test_digest import cfg as cfg  # noqa: F401 - the digest's config fixture, reused

CODE = re.compile(r"[A-Z][A-Z_]{4,}")  # LINE_KIND_MISSING, SMTPConnectError
COMMAND = re.compile(r"\bbot [a-z]")  # bot scan-values set …
CONFIG_KEY = re.compile(r"\[[a-z_]+\] [a-z_]+")  # [vendor] pdf_password


class _Text(HTMLParser):
    """What a reader sees of an HTML part: the text, not the tags, styles or the doctype."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return "\n".join(parser.parts)


def not_office_words(text: str) -> list[str]:
    return CODE.findall(text) + COMMAND.findall(text) + CONFIG_KEY.findall(text)


@pytest.fixture
def every_code(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """The golden day, plus a 差戻 with every defect and an accepted mail with every warning."""
    with db.transaction(factory) as s:
        seed(s)
        more = Seeder(s)
        more.uid = 100
        more.mail(jst(24, 18), "USEN SPOT 器材発注依頼_988770030", "uchida@aoyama.usen.co.jp", kind="equipment_order",
                  decision="rejected", code="988770030",
                  defects=[{"code": code, "detail": _DETAIL} for code in vocab.DEFECTS])
        more.mail(jst(24, 18, 30), "USEN SPOT キャンセル申請_988770031", "sato@shibuya.usen.co.jp",
                  kind="cancellation", decision="accepted", code="988770031",
                  warnings=[{"code": code, "detail": {"form": "カフェ", "unis": "カフェ青山"}}
                            for code in vocab.WARNINGS])
    return factory


def test_every_defect_and_warning_is_named_in_words_not_codes(every_code: sessionmaker[Session],
                                                              cfg: Config) -> None:  # noqa: F811
    """Given a day with every defect and warning the bot records, a quarantined mail and
    outbox rows refused by SMTP servers, when the digest is built, then its text and the text
    of its HTML part show each defect and warning by its Japanese name, and no code, exception
    name, command or config key."""
    digest = build(every_code, cfg)
    for part, text in (("text", f"{digest.subject}\n{digest.text}"), ("html", visible(digest.html))):
        assert not_office_words(text) == [], part
        for name in (*vocab.DEFECTS.values(), *vocab.WARNINGS.values()):
            assert name in text, (part, name)
    assert "【回線種別の選択なし】申込書の「ご利用回線種別」" in digest.text
    assert "サーバーに接続できませんでした" in digest.text  # SMTPConnectError: … Connection refused


def test_the_template_preview_of_the_digest_speaks_words_too() -> None:
    """Given the digest templates' sample data (the console's template editor and
    ``bot templates preview``), when rendered, then neither part shows a code, a command or a
    config key: an admin editing the template sees what the office will read."""
    _subject, text, html = render(sample_data(), Templates())
    assert not_office_words(text) == []
    assert not_office_words(visible(html)) == []
    assert "【PDFにパスワードなし】" in text and "【キャンセル費用発生】" in text
