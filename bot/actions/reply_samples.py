"""Sample data of the 差戻 reply (``reject.txt.j2``, and through it ``_defects.j2``) for
``bot templates check`` / ``preview`` and the console's template editor: every defect code
the partial explains, with details filled in. Registered with bot/templating/samples.py, which
loads this module by name (:data:`bot.templating.samples.SAMPLE_OWNERS`)."""

from __future__ import annotations

from bot.checks.base import Defect
from bot.domain import classify, vocab
from bot.templating.samples import register_sample

TEMPLATE = "reject.txt.j2"

# Every code _defects.j2 explains (the office's list, in DESIGN.md's order: bot/domain/vocab.py): the
# template preview shows each sentence.
ALL_DEFECT_CODES = tuple(vocab.DEFECTS)
# Explained, but no request the bot takes carries it: a serial number is written only in a
# ルーター交換依頼 or リンク品使用連絡, which go to テクニカルサポート課, not to this mailbox
# (the serials the bot sees come from UNIS, and bot/unis/audit.py reports those).
NOT_OFFERED = frozenset({"SERIAL_INVALID"})
# The codes a person may choose when they reject a held mail in the console (差戻): the
# sender one for a 法人一括発注依頼 from outside 法人営業 (held, bot/decide/ corporate_gate),
# the change one for a 契約変更 whose 変更内容 says nothing.
OFFERED_CODES = tuple(code for code in ALL_DEFECT_CODES if code not in NOT_OFFERED)

_DETAIL = {
    "codes": "件名 988776654、本文 988776655", "code": "988776654", "address": "c-aoya@uspot.jp",
    "reading": "シーハイフンエー", "spelled": "c-a", "ssid": "ｋｉｔｓｕｎｅ", "chars": "ｋｉ", "labels": "店舗名、担当者名",
    "body": "有", "form": "無", "manager": "shitencho@usen.co.jp", "termination_date": "2026/11/25",
    "deadline": "2026/11/19", "state": "設置済", "request": "キャンセル申請",
    "row": "5", "column": "SSID", "problem": "「ｓｈｏｐ」に半角以外の文字（ｓｈｏｐ）があります",
    "role": "法人営業", "serial": "FG60141126", "label": "新シリアル",
}

SAMPLE = {
    "sender_name": "内田 太郎",
    "kind_label": "器材発注依頼",
    "original_subject": "USEN SPOT 器材発注依頼_988776654",
    "customer_code": "988776654",
    "received_at": "2026/11/24 10:15",
    "defects_list": [Defect(code, _DETAIL) for code in ALL_DEFECT_CODES],
    "show_subjects": True,
    "prefixes": [prefix for prefix, _ in classify.PREFIXES],
    "defect_names": dict(vocab.DEFECTS),
    "remark": "申込書の2ページ目が添付されていません。原本をご確認ください。",
}

register_sample(TEMPLATE, SAMPLE)
