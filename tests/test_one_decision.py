"""One path for a decision (issue 20 point 1): a mail is classified, authenticated and screened
once (its first look travels in the facts), and one function decides it from its facts. The
daemon's pipeline, `bot process --dry-run`, `bot reprocess` and a person's 受付 in the console all
reach :func:`bot.decide.decide` (the person's choice is an input, ``by_person``), for the same
mail. Real pipeline, real reader processes, SQLite; the functions are spied on, not replaced."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

import bot.decide
import bot.domain.classify
from bot import db
from bot.actions.reprocess import reprocess
from bot.actions.resolve import ResolveError, Tools, accept, read_for_accept
from bot.commands.process import dry_run
from bot.db.models import QUARANTINED, Mail
from bot.unis import import_extract
from tests.support.app import DEFAULT_NOW, Clock, make_config, make_processor
from tests.support.mailbuilder import build_mail

ROOT = Path(__file__).resolve().parents[1] / "bot"
# The cancellation of an order the bot never sent (UNIS knows the customer, the bot sent no order):
# the pipeline holds it for a person (manual §VI), who may accept it.
SUBJECT = "USEN SPOT キャンセル申請_988776654"


@dataclasses.dataclass
class Spy:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = dataclasses.field(default_factory=list)

    def wrap(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def spy(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((args, kwargs))
            return real(*args, **kwargs)
        return spy


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Spy]]:
    found = {"classify": Spy(), "decide": Spy()}
    monkeypatch.setattr(bot.domain.classify, "classify_subject", found["classify"].wrap(bot.domain.classify.classify_subject))
    monkeypatch.setattr(bot.decide, "decide", found["decide"].wrap(bot.decide.decide))
    yield found


def _unis(factory: sessionmaker[Session]) -> None:
    """The demo's UNIS extract: it knows 988776654 (受注), so the ledger has no row of it."""
    from bot.demo.run import DEMO_DIR

    with db.transaction(factory) as s:
        import_extract(s, (DEMO_DIR / "unis.csv").read_bytes(), name="unis.csv", now=DEFAULT_NOW)


def _calls_of(name: str) -> set[str]:
    """The modules of bot/ that call `name` (as a name or an attribute)."""
    out = set()
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                f = node.func
                if (isinstance(f, ast.Name) and f.id == name) or (isinstance(f, ast.Attribute) and f.attr == name):
                    out.add(path.relative_to(ROOT.parent).as_posix())
    return out


def test_only_the_first_look_classifies_and_screens() -> None:
    """Given the source of bot/, then the subject is classified, and the sender screened, in the
    first look only, and only bot.pipeline.gather takes the first look (with our MTA's verdict)."""
    assert _calls_of("classify_subject") == {"bot/decide/first_look.py"}
    assert _calls_of("screen") == {"bot/decide/first_look.py"}
    assert _calls_of("corporate_gate") == {"bot/decide/first_look.py"}
    assert _calls_of("first_look") == {"bot/pipeline/gather.py"}


def test_the_pipeline_classifies_once_and_decides_once_read_ahead_or_not(sqlite_url: str,
                                                                         spies: dict[str, Spy]) -> None:
    """Given two stored mails, when one is decided alone and the other after being read ahead,
    then each is classified once and decided once (by the bot, not by a person)."""
    processor, factory = make_processor(make_config(sqlite_url), Clock(DEFAULT_NOW))
    _unis(factory)
    alone = processor.store(build_mail(SUBJECT, message_id="<a@aoyama.usen.co.jp>"), folder="INBOX",
                            uidvalidity=1, uid=1).mail_id
    ahead = processor.store(build_mail(SUBJECT, message_id="<b@aoyama.usen.co.jp>"), folder="INBOX",
                            uidvalidity=1, uid=2).mail_id
    outcome = processor.process(alone)
    assert outcome is not None and outcome.decision == "manual"
    assert len(spies["classify"].calls) == 1 and len(spies["decide"].calls) == 1
    read = processor.read_ahead(ahead)
    assert read is not None and read.first is not None
    outcome = processor.process(ahead, read)
    assert outcome is not None and outcome.decision == "manual"
    assert len(spies["classify"].calls) == 2 and len(spies["decide"].calls) == 2
    assert all(not kwargs.get("by_person") for _, kwargs in spies["decide"].calls)


def test_dry_run_and_reprocess_reach_the_same_decision(sqlite_url: str, spies: dict[str, Spy]) -> None:
    """Given one mail, when `bot process --dry-run` decides it and, stored and quarantined,
    `bot reprocess` decides it again, then both went through bot.decide.decide once each with
    the mail classified once each, and reached the same decision and reason."""
    cfg = make_config(sqlite_url)
    raw = build_mail(SUBJECT, message_id="<c@aoyama.usen.co.jp>")
    processor, factory = make_processor(cfg, Clock(DEFAULT_NOW))
    _unis(factory)
    with factory() as s:
        [dry] = dry_run([("c.eml", raw)], cfg=cfg, session=s, now=DEFAULT_NOW)
    assert len(spies["classify"].calls) == 1 and len(spies["decide"].calls) == 1
    mail_id = processor.store(raw, folder="INBOX", uidvalidity=1, uid=1).mail_id
    with db.transaction(factory) as s:
        s.execute(update(Mail).where(Mail.id == mail_id).values(status=QUARANTINED, error="RuntimeError: boom"))
    again = reprocess(cfg, processor, mail_id, now=DEFAULT_NOW, refile=False)
    assert again.done and again.outcome is not None, again.message
    assert len(spies["classify"].calls) == 2 and len(spies["decide"].calls) == 2
    assert (dry["decision"], dry.get("reason")) == (again.outcome.decision, again.outcome.reason)
    assert dry["decision"] == "manual" and "発注はシステムから送られていません" in again.outcome.reason


def test_a_persons_accept_is_the_same_decision_with_the_person_as_input(sqlite_url: str,
                                                                         spies: dict[str, Spy]) -> None:
    """Given a held mail (a cancellation UNIS and the ledger do not know), when a person accepts
    it in the console's code path, then the PDFs' reading took the mail's first look, the one
    decision ran once with by_person=True (not a second copy of the chains), and its refusal is
    what the person reads."""
    cfg = make_config(sqlite_url)
    processor, factory = make_processor(cfg, Clock(DEFAULT_NOW))
    _unis(factory)
    mail_id = processor.store(build_mail(SUBJECT, message_id="<d@aoyama.usen.co.jp>"), folder="INBOX",
                              uidvalidity=1, uid=1).mail_id
    assert (outcome := processor.process(mail_id)) is not None and outcome.decision == "manual"
    tools = Tools.from_config(cfg)
    with factory() as s:
        row = s.get(Mail, mail_id)
        assert row is not None
        raw = row.raw
    before = len(spies["classify"].calls), len(spies["decide"].calls)
    attachments = read_for_accept(tools, raw)
    assert attachments.first is not None
    with db.transaction(factory) as s:
        done = accept(s, mail_id, tools=tools, attachments=attachments, by="kagawa",
                      now=DEFAULT_NOW + dt.timedelta(hours=1))
    assert done.decision == "accepted"
    person = [kwargs for _, kwargs in spies["decide"].calls[before[1]:] if kwargs.get("by_person")]
    assert len(person) == 1
    assert len(spies["classify"].calls) == before[0] + 1  # once, for the PDFs' reading; not again to decide


def test_a_persons_accept_is_refused_in_the_decisions_own_words(sqlite_url: str, spies: dict[str, Spy]) -> None:
    """Given a held mail whose customer UNIS does not know (held here by the reply cap), when a
    person accepts it, then the one decision (by_person) refuses it, naming the defect, and
    nothing is acted on."""
    cfg = make_config(sqlite_url)
    cfg = cfg.replace(senders=dataclasses.replace(cfg.senders, max_replies_per_hour=0))
    processor, factory = make_processor(cfg, Clock(DEFAULT_NOW))
    mail_id = processor.store(build_mail(SUBJECT, message_id="<e@aoyama.usen.co.jp>"), folder="INBOX",
                              uidvalidity=1, uid=1).mail_id
    outcome = processor.process(mail_id)
    assert outcome is not None and outcome.decision == "manual" and "CUSTOMER_NOT_FOUND" in outcome.defects
    tools = Tools.from_config(cfg)
    with factory() as s:
        raw = s.get(Mail, mail_id).raw  # type: ignore[union-attr]
    with pytest.raises(ResolveError) as refused, db.transaction(factory) as s:
        accept(s, mail_id, tools=tools, attachments=read_for_accept(tools, raw), by="kagawa",
               now=DEFAULT_NOW + dt.timedelta(hours=1))
    [(_, kwargs)] = [c for c in spies["decide"].calls if c[1].get("by_person")]
    assert str(refused.value) == "不備があるため受付できません（CUSTOMER_NOT_FOUND）。差戻すか、対応済みにしてください。"
    with factory() as s:
        row = s.get(Mail, mail_id)
        assert row is not None and row.decision == "manual" and row.resolved_at is None
