"""Sample data of the digest templates (``digest.txt.j2``, ``digest.html.j2``) for
``bot templates check`` / ``preview`` and the console's template editor: a digest with
something in every section, fixed values, no database. Registered with
bot/templating/samples.py, which loads this module by name."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.digest.model import (
    KIND_LABELS,
    KIND_ORDER,
    MANUAL_QUEUE_DAYS,
    UNKNOWN_KIND_LABEL,
    BatchLine,
    BranchGroup,
    BreakageLine,
    DefectLine,
    Detail,
    DigestData,
    KindCount,
    LedgerLine,
    MailLine,
    OutboxProblem,
    QuarantineLine,
    ScanRowLine,
)
from bot.domain import classify
from bot.templating.samples import register_sample


def sample_data() -> DigestData:
    """A digest with something in every section (fixed values, no database)."""
    d = Detail

    def mail(i: int, subject: str, sender: str, kind: str, code: str, *, reason: str = "",
             defects: tuple[DefectLine, ...] = (), warnings: tuple[DefectLine, ...] = (), age: int = 0,
             reply: str = "") -> MailLine:
        return MailLine(id=i, message_id=f"<sample-{i}@aoyama.usen.co.jp>", subject=subject, from_addr=sender,
                        received_label=f"2026/11/{24 - age:02d} 10:{i:02d}", age_days=age,
                        kind_label=KIND_LABELS[kind], customer_code=code, reason=reason, defects=defects,
                        warnings=warnings, reply_status=reply)

    counts = tuple(KindCount(k, KIND_LABELS[k], *(3, 2, 1, 0) if k == classify.EQUIPMENT_ORDER else (1, 0, 0, 0))
                   for k in KIND_ORDER) + (KindCount("unknown", UNKNOWN_KIND_LABEL, 0, 0, 1, 2),)
    totals = KindCount("all", "合計", *(sum(getattr(c, a) for c in counts)
                                         for a in ("accepted", "rejected", "manual", "ignored")))
    rejected = mail(3, "USEN SPOT 器材発注依頼_988776654", "uchida@aoyama.usen.co.jp", classify.EQUIPMENT_ORDER,
                    "988776654", defects=(DefectLine("PDF_NOT_ENCRYPTED", d()),
                                          DefectLine("BODY_FIELD_MISSING", d(labels="店舗名、担当者名"))),
                    reply="送信済")
    return DigestData(
        day=dt.date(2026, 11, 24), day_label="2026/11/24 (火)", generated_label="2026/11/24 18:00",
        is_business_day=True, counts=counts, totals=totals, quarantined_today=1, undecided_today=0,
        rejections=(BranchGroup("aoyama", (rejected,)),),
        manual=(mail(4, "USEN SPOT 器材発注依頼_988776655", "sato@shibuya.usen.co.jp", classify.EQUIPMENT_ORDER,
                     "988776655", reason="application form is a scan with no text layer", age=2),),
        manual_not_listed=0, manual_days=MANUAL_QUEUE_DAYS,
        mail_warnings=(mail(5, "USEN SPOT キャンセル申請_988776656", "kato@aoyama.usen.co.jp", classify.CANCELLATION,
                            "988776656", warnings=(DefectLine("CANCEL_COSTS", d(code="988776656")),
                                                   DefectLine("ROUTER_RETURN_DUE", d(code="988776656")))),),
        router_not_removed=(LedgerLine("988776657", "カフェ青山", "解約済", "2026/11/02 (月)", -16,
                                       "店舗閉鎖のため回収不可 ［紛失手数料の対象］"),),
        router_not_removed_total=1,
        terminations_due=(LedgerLine("988776658", "ヘアサロン渋谷", "解約予定", "2026/11/27 (金)", 3, ""),),
        termination_horizon_label="2026/12/01 (火)",
        batches=(BatchLine(7, "2026/11/24 17:05", 4, (("新規", 3), ("解約", 1)), "送信済", True,
                           "2026/11/24 17:05", ""),),
        vendor_rows_waiting=2,
        scan_rows=(ScanRowLine(11, "988776660", "新規", "", "2026/11/25 (水)",
                               ("店舗名", "設置先住所", "電話番号", "SSID"), ("メールアドレス",), 8),),
        quarantined=(QuarantineLine(9, "<sample-9@aoyama.usen.co.jp>", "USEN SPOT 解約申請_988776659",
                                    "ito@aoyama.usen.co.jp", "2026/11/24 11:30",
                                    "エラーが発生しました（詳細は管理者向けの記録）"),),
        quarantined_total=1,
        outbox_problems=(OutboxProblem(12, "差戻返信", "Re: USEN SPOT 器材発注依頼_988776654",
                                       "uchida@aoyama.usen.co.jp", "送信待ち", 2,
                                       "サーバーに接続できませんでした", "2026/11/24 18:10"),),
        outbox_problems_total=1,
        breakages=(BreakageLine("/etc/usen-spot/templates/reject.txt.j2:3",
                                "変数 sender はありません。", 4, "2026/11/24 15:20"),),
        last_fetch_label="2026/11/24 17:59（1分前）", latest_received_label="2026/11/24 16:42（1時間前）",
        health_problems=("送信箱に 45 分以上送れていないメールがあります（3 通）",),
        unis_findings=(_sample_findings(),), unis_historic=2437, unis_window_days=30,
        branch_rates=({"branch": "渋谷支店", "total": 18, "rejected": 5, "rate": "27.8%", "above": True},
                      {"branch": "青山支店", "total": 24, "rejected": 3, "rate": "12.5%", "above": False}),
        office_tasks=({"id": 3, "label": "Original SSID（Z200549）のUNIS確定", "customer_code": "555000111",
                       "shop_name": "カフェ 緑", "ssid": "cafe_midori", "mail_id": 41, "created_label": "11/24 10:12"},
                      {"id": 4, "label": "登録通知書の再発送", "customer_code": "988776654", "shop_name": "カフェ 青山",
                       "ssid": "", "mail_id": 42, "created_label": "11/24 11:40"}),
    )


def _sample_findings() -> Any:
    from bot.unis.audit import BranchFindings, FindingLine

    seen = dt.datetime(2026, 11, 24, 0, 30, tzinfo=dt.UTC)
    return BranchFindings("青山支店", (
        FindingLine(rule="UNIS_SERIAL_IS_MANAGEMENT_NO", branch="青山支店", customer_code="988776654",
                    contract_no="C0001", line_no="2", shop_name="カフェ 青山", item_code="9603010",
                    item_name="USEN SPOT ルーター", status="確定", value="123456",
                    problem="確定後もシリアルNo欄に管理番号（6桁）が入っています",
                    fix="ルーター本体のシリアルナンバー（12桁）に修正してください（マニュアル§VIII）",
                    is_new=True, first_seen_at=seen, last_seen_at=seen),
    ), resolved_today=1)


def sample_context() -> dict[str, Any]:
    ctx = sample_data().context()
    ctx["subject"] = "【USEN SPOT】日次レポート 2026/11/24 (火)"  # what the HTML template gets
    return ctx


register_sample("digest.txt.j2", sample_context)
register_sample("digest.html.j2", sample_context)
