"""What one mail's pass came to (:class:`Outcome`: the runner files by it, the demo and the CLI
print it), and what of its facts is kept on the row for the digest and for a person."""

from __future__ import annotations

from dataclasses import dataclass

from bot.checks.base import Facts
from bot.db.models import QUARANTINED, Mail
from bot.decide import Decision
from bot.pipeline.filing import folder_for


@dataclass(frozen=True)
class Outcome:
    mail_id: int
    uid: int | None
    subject: str
    from_addr: str | None
    decision: str  # accepted/rejected/manual/ignored, or "quarantined"
    kind: str | None
    customer_code: str | None
    defects: tuple[str, ...]
    warnings: tuple[str, ...]
    reason: str
    folder: str
    reply_to: tuple[str, ...] = ()


def outcome_of(row: Mail, reason: str, reply_rcpts: tuple[str, ...]) -> Outcome:
    return Outcome(
        mail_id=row.id, uid=row.uid, subject=row.subject or "", from_addr=row.from_addr,
        decision=row.decision if row.status != QUARANTINED else QUARANTINED, kind=row.kind,
        customer_code=row.customer_code, defects=tuple(d["code"] for d in row.defects),
        warnings=tuple(w["code"] for w in row.warnings), reason=reason, folder=folder_for(row),
        reply_to=reply_rcpts,
    )


def facts_summary(f: Facts, decision: Decision) -> dict[str, object]:
    """What the digest and a person need later, without re-reading the PDF."""
    summary: dict[str, object] = {"reason": decision.reason, "variant": decision.variant}
    branch = f.body.get("送付支店名")
    if branch:
        summary["branch"] = branch
    if f.form is not None:
        summary["form_shape"] = f.form.shape
        summary["form_kind"] = f.form.form  # dedicated | integrated (統合申込書)
        if f.form.fields is not None:
            summary["form"] = f.form.fields.as_dict()
        if f.form.readings:  # a scan: what the reader saw, per field (value/state, confidence, box)
            summary["form_readings"] = f.form.fields_json()
            summary["form_unsure"] = list(f.form.unsure)
        if f.form.detail:
            summary["form_detail"] = f.form.detail
    scanned = next((t for t in f.termination_forms if t.readings), None)
    if scanned is not None:  # a scanned 解約申請書: what its reader saw (the shadow figures, issue 19)
        summary["termination_shape"] = scanned.shape
        summary["termination_readings"] = {r.name: {"value": r.value, "state": r.state, "confidence": round(r.conf, 3),
                                                    "sure": r.sure} for r in scanned.readings}
        summary["termination_unsure"] = list(scanned.unsure)
    if f.mail.problems:
        summary["mail_problems"] = list(f.mail.problems)
    return summary
