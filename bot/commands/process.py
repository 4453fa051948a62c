"""`bot process FILE.eml... --dry-run --json`: decide without side effects (DESIGN.md CLI)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy.orm import Session

from bot import classify
from bot import decide as deciding
from bot.config import Config
from bot.gather import gather, settings_from
from bot.mail import parse_mail
from bot.pipeline import reader_reason
from bot.reading import PdfReader
from bot.workers import ReaderFailed, shared_pool


def dry_run(
    raws: Iterable[tuple[str, bytes]], *, cfg: Config, session: Session | None, now: dt.datetime
) -> list[dict[str, object]]:
    """`bot process --dry-run`: decide each file without side effects."""
    settings = settings_from(cfg)
    reader = PdfReader(cfg.pdf.password, cfg.limits, pool=shared_pool(cfg.limits))
    results: list[dict[str, object]] = []
    for name, raw in raws:
        mail = parse_mail(raw, cfg.limits)
        try:
            facts = gather(mail, cfg=cfg, session=session, received_at=now, settings=settings, reader=reader)
        except ReaderFailed as err:
            c = classify.classify_subject(mail.subject)
            results.append({"file": name, "message_id": mail.message_id, "kind": c.kind,
                            "customer_code": c.customer_code, "decision": deciding.MANUAL, "defects": [],
                            "warnings": [], "reason": reader_reason(err, 1)})
            continue
        decision = deciding.decide(facts)
        results.append(
            {
                "file": name, "message_id": mail.message_id, "kind": decision.kind,
                "customer_code": decision.customer_code, "decision": decision.decision,
                "defects": decision.defect_codes, "warnings": decision.warning_codes,
                "shape": facts.form.shape if facts.form is not None else None,
                "fields": facts.form.fields_json() if facts.form is not None else {},
            }
        )
        if decision.reason:
            results[-1]["reason"] = decision.reason
    return results
