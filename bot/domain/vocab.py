"""The office's words: every code, key and enum the bot stores, as the Japanese the office
uses. Defined once here, in the domain layer; the console (bot/web), the digest, the CLI's
Japanese and the templates' sample data read them from here.

Codes (``ATTACHMENT_MISSING``), keys (``line_kind``), config keys (``[scans] integrated``) and
commands (``bot reprocess``) stay what the bot stores and admins script against; a person
reads the words below. :func:`plain` turns a stored sentence that still carries codes, keys,
config keys or a reader's English into office words; :func:`value_text` and
:func:`detail_lines` render stored values and details (no Python reprs).

Imports nothing from bot.web or bot.commands (they sit on top of it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.domain.classify import LABELS as _KIND_PREFIXES
from bot.ledger import STATE_LABELS as _LEDGER_STATES

# -- decisions and kinds ----------------------------------------------------------------------

DECISIONS: Mapping[str, str] = {
    "accepted": "受付", "rejected": "差戻", "manual": "保留", "ignored": "対象外",
    "quarantined": "隔離", "undecided": "未判定",
}
RESOLVED = "対応済み"  # a held mail a person finished outside the bot (bot manual resolve, the console)
# The request kinds: the subject prefixes branches write (bot.domain.classify owns them).
KINDS: Mapping[str, str] = {**_KIND_PREFIXES, "unknown": "種別不明"}
UNKNOWN_KIND = KINDS["unknown"]

# -- defects and warnings (codes of DESIGN.md and docs/contract.md): short names ----------------
# The full sentence of each, with the mail's specifics, is templates/_defects.j2.

DEFECTS: Mapping[str, str] = {
    "UNKNOWN_KIND": "件名の依頼種別が不明",
    "CUSTOMER_CODE_MISSING": "件名に顧客コードなし",
    "CUSTOMER_CODE_MISMATCH": "顧客コードの不一致",
    "ATTACHMENT_MISSING": "PDFの添付なし",
    "ATTACHMENT_NOT_FORM": "添付が申込書ではない",  # a person's finding only (the console's 差戻)
    "PDF_NOT_ENCRYPTED": "PDFにパスワードなし",
    "PDF_WRONG_PASSWORD": "PDFのパスワード違い",
    "PDF_UNREADABLE": "PDFを読み取れない",
    "UNIS_ORDER_MISSING": "UNISに受注なし",
    "LINE_KIND_MISSING": "回線種別の選択なし",
    "LINE_TYPE_MISSING": "回線タイプの選択なし",
    "MAIL_ADDRESS_MISSING": "希望メールアドレスなし",
    "MAIL_ADDRESS_INVALID": "メールアドレスが不正",
    "MAIL_ADDRESS_READING_MISMATCH": "メールアドレスとフリガナの不一致",
    "SSID_NOT_HALFWIDTH": "SSIDに全角文字",
    "UNIT_COUNT_MISSING": "台数の記載なし",
    "BODY_FIELD_MISSING": "本文の項目不足",
    "PLUS_FLAG_MISMATCH": "SPOT Plus該当の不一致",
    "CC_MANAGER_MISSING": "CCに支店長なし",
    "REASON_MISSING": "ルーター未撤去の理由なし",
    "TERMINATION_DATE_MISSING": "解約日なし",
    "WITHDRAWAL_TOO_LATE": "解約キャンセルの期限切れ",
    "CUSTOMER_NOT_FOUND": "顧客が見つからない",
    "DESTINATION_LINE_MISSING": "移設先の回線種別なし",
    "SENDER_NOT_PERMITTED": "送信者に権限なし",
    "SERIAL_INVALID": "シリアル番号が不正",
    "CHANGE_CONTENT_MISSING": "変更内容なし",
    "STATE_CONFLICT": "台帳の状態と合わない依頼",
    "CORPORATE_LIST_INVALID": "法人顧客リストを読み取れない",
    "CORPORATE_ROW_INVALID": "法人顧客リストの行に誤り",
    "SPOT_NOT_SELECTED": "統合申込書のUSEN SPOT欄にチェックなし",
}
WARNINGS: Mapping[str, str] = {
    "CANCEL_COSTS": "キャンセル費用発生",
    "ROUTER_RETURN_DUE": "ルーター返却が必要",
    "SHOP_NAME_DIFFERS": "店舗名がUNISと異なる",
}
# UNIS registration audit rules (bot/unis/audit.py) may appear in text too.
_OTHER_CODES: Mapping[str, str] = {
    "UNIS_SERIAL_IS_MANAGEMENT_NO": "UNISのシリアルが管理番号のまま",
}


# The manual's own fix for the defects a branch makes most (the monthly report to each branch
# manager: bot/digest/monthly.py); the 差戻's full sentences are templates/_defects.j2.
DEFECT_FIXES: Mapping[str, str] = {
    "UNKNOWN_KIND": "件名は「USEN SPOT 依頼名_UNIS顧客コード」で送ってください（マニュアル§II）。",
    "CUSTOMER_CODE_MISSING": "件名の末尾に「_UNIS顧客コード（9桁）」を付けてください（マニュアル§II）。",
    "CUSTOMER_CODE_MISMATCH": "件名・本文・申込書の顧客コードを同じにしてください。",
    "ATTACHMENT_MISSING": "申込書PDFをパスワード付きで添付してください（マニュアル§II）。",
    "PDF_NOT_ENCRYPTED": "申込書PDFには必ずパスワードを付けて送ってください（マニュアル§II）。",
    "PDF_WRONG_PASSWORD": "申込書PDFのパスワードは事務センター指定のものを使ってください。",
    "UNIS_ORDER_MISSING": "器材発注の前にUNISで受注登録をしてください（マニュアル§II）。",
    "LINE_KIND_MISSING": "申込書の「ご利用回線種別」を必ず選択してください。",
    "LINE_TYPE_MISSING": "Bフレッツの場合は「ファミリー／マンション」を必ず選択してください。",
    "MAIL_ADDRESS_MISSING": "申込書の「ご希望のメールアドレス」とフリガナを記入してください。",
    "SSID_NOT_HALFWIDTH": "SSIDは半角英数字のみで記入してください（全角は使えません）。",
    "UNIT_COUNT_MISSING": "複数台の場合は本文か備考に「親〇台 子〇台」と書いてください。",
    "BODY_FIELD_MISSING": "本文に顧客CD・店舗名・リンク品使用・SPOT Plus該当・送付支店名・担当者名を書いてください（マニュアル§II）。",
    "PLUS_FLAG_MISMATCH": "本文の「SPOT Plus該当」と申込書のPlus欄を一致させてください。",
    "CC_MANAGER_MISSING": "依頼メールのCCに支店長を入れてください（マニュアル§II）。",
    "CUSTOMER_NOT_FOUND": "UNIS顧客コードを確認してから送ってください。",
    "STATE_CONFLICT": "管理台帳の状態（設置前・設置済など）に合った依頼を選んでください。",
    "SENDER_NOT_PERMITTED": "担当部署が送る依頼です（交換はテクニカルサポート課、登録通知書はCS）。",
}
DEFAULT_FIX = "差戻メールの説明に沿って記載し、送り直してください。"


def code_name(code: str) -> str:
    """A defect or warning code as staff read it (an unknown code: 「その他の不備」)."""
    return DEFECTS.get(code) or WARNINGS.get(code) or _OTHER_CODES.get(code) or "その他の不備"


# -- the form's fields and how they were read -------------------------------------------------
# Keys of the application form (bot/forms), the scan reader (bot/decide/scans.py, bot/decide/termination_scans.py)
# and the vendor row payload (bot/vendor): one label each.

FIELDS: Mapping[str, str] = {
    "customer_code": "顧客コード", "shop_name": "店舗/施設名", "shop_kana": "店舗/施設名（フリガナ）",
    "line_kind": "ご利用回線種別", "line_type": "ご利用回線タイプ", "mail_local": "ご希望のメールアドレス",
    "mail_address": "メールアドレス", "mail_reading": "メールアドレスのフリガナ", "plus": "USEN SPOT Plus",
    "ssid": "SSID", "parent_units": "親機台数", "child_units": "子機台数", "remarks": "備考",
    "check_method": "確認方法", "contact_last": "ご担当者名（姓）", "contact_first": "ご担当者名（名）",
    "termination_date": "解約日", "contractor_name": "ご契約者名", "contractor_kana": "ご契約者名（フリガナ）",
    "contractor_zip": "ご契約者 郵便番号", "contractor_address": "ご契約者 住所", "contractor_phone": "ご契約者 電話番号",
    "shop_zip": "設置先 郵便番号", "shop_address": "設置先 住所", "shop_phone": "設置先 電話番号",
    "spot_selected": "USEN SPOT 欄のチェック（統合申込書）", "branch": "送付支店", "note": "備考",
    "serial": "シリアル番号", "old_serial": "旧シリアル", "new_serial": "新シリアル",
}
FIELD_STATES: Mapping[str, str] = {
    "read": "読取済", "filled": "記入あり", "empty": "空欄", "marked": "印あり", "unmarked": "印なし", "unsure": "不確か",
}
FORM_SHAPES: Mapping[str, str] = {
    "fillable": "入力フォーム（PDF）", "typed": "文字入りPDF", "scanned": "スキャン画像", "unknown": "不明な形式",
}
FORM_KINDS: Mapping[str, str] = {"dedicated": "ご加入申込書", "integrated": "統合申込書", "termination": "解約申請書"}
LINE_KINDS: Mapping[str, str] = {"hikari_next": "フレッツ光ネクスト", "b_flets": "Bフレッツ"}
LINE_TYPES: Mapping[str, str] = {"family": "ファミリー", "mansion": "マンション"}
# The form's choices besides the line: 確認方法, Plus.
OPTIONS: Mapping[str, str] = {
    **LINE_KINDS, **LINE_TYPES, "notice": "開通通知書", "bill": "NTT請求書", "ntt116": "116", "on": "加入する",
    "true": "チェックあり", "false": "チェックなし",
}


def field_name(key: str) -> str:
    """A field key (``line_kind`` or an option ``line_kind.hikari_next``) as staff read it."""
    head, _, option = key.partition(".")
    label = FIELDS.get(head, "その他の項目")
    return f"{label}「{OPTIONS.get(option, option)}」" if option else label


# -- the ledger, the vendor, the outbox, jobs, the audit log ----------------------------------

LEDGER_STATES: Mapping[str, str] = _LEDGER_STATES
LEDGER_EVENTS: Mapping[str, str] = {
    "order": "発注", "ship": "出荷", "install": "設置", "cancel": "キャンセル", "schedule_termination": "解約申請",
    "withdraw_termination": "解約キャンセル", "terminate": "解約", "child_unit": "子機", "change": "契約変更",
    "relocate": "移設", "router_not_removed": "ルーター未撤去", "seed_from_unis": "UNISから登録",
    "serial": "シリアル登録", "info_change": "顧客情報変更", "notice_resend": "登録通知書再発送",
    "router_exchange": "ルーター交換", "link_item": "リンク品使用", "original_ssid": "Original SSID追加",
}
OUTBOX_PURPOSES: Mapping[str, str] = {
    "reply": "差戻返信", "vendor_batch": "業者便", "digest": "日次レポート",
    "corporate_registration": "登録G宛の法人リスト", "link_items": "リンク品使用連絡",
}
OUTBOX_STATUSES: Mapping[str, str] = {"pending": "送信待ち", "sending": "送信中", "sent": "送信済", "failed": "送信失敗"}
# Every job id: the runs recorded once per period (bot/jobs/__init__.py), then the rest of the daemon's
# schedule (bot/daemon/main.py); tests/test_job_names.py fails on an id without a name here.
JOBS: Mapping[str, str] = {"vendor-batch": "業者便の送信", "digest": "日次レポート", "retention": "保存期間の整理",
                           "link-items": "リンク品使用連絡", "monthly-report": "支店長への月次レポート",
                           "unis-import": "UNIS取込", "outbox": "送信箱の送信",
                           "outbox-flush": "送信箱の送信", "unis-drop": "UNIS取込", "smtp-check": "SMTPサーバーの確認",
                           "imap-refile": "メールの振り分けの再試行", "heartbeat": "稼働状況の記録", "watchdog": "処理の見張り"}
CATCH_UP = "-catch-up"  # a daily job run once at start for the time the bot was down


def job_name(job_id: str) -> str | None:
    """The job's name in Japanese (a catch-up run named after its job), None when it has none."""
    name = JOBS.get(job_id.removesuffix(CATCH_UP))
    return name if name is None or not job_id.endswith(CATCH_UP) else f"{name}（起動時の取り戻し）"


JOB_STATUSES: Mapping[str, str] = {"done": "完了", "failed": "失敗", "running": "実行中", "skipped": "対象なし"}
PROCESS_STATES: Mapping[str, str] = {"running": "稼働中", "waiting": "待機中", "starting": "起動中", "stopped": "停止"}
ROLES: Mapping[str, str] = {"staff": "スタッフ", "admin": "管理者"}
AUDIT_ACTIONS: Mapping[str, str] = {
    "login": "ログイン", "login_failed": "ログイン失敗", "login_limited": "ログイン拒否（試行回数超過）",
    "logout": "ログアウト", "manual_dismiss": "保留を対応済みにする", "manual_accept": "保留を受付",
    "manual_reject": "保留を差戻", "manual_refile": "メールの振り分けを再試行", "scan_values_set": "スキャンの値を入力",
    "user_add": "ユーザー追加", "user_passwd": "パスワード変更", "user_disable": "ユーザー無効化",
    "user_name": "表示名の変更", "outbox_requeue": "送信箱のメールを再送", "mail_reprocess": "隔離メールを再処理",
    "attachment_download": "添付ファイルをダウンロード", "vendor_csv_download": "ベンダーCSVをダウンロード",
    "template_save": "テンプレートを保存", "template_revert": "テンプレートを以前の版に戻す",
    "template_builtin": "テンプレートを組み込みに戻す",
    "manual_take": "保留を対応中にする", "manual_release": "対応中を解除", "scan_value_correct": "スキャンの読み取り値を訂正",
    "list_export": "一覧をCSVで書き出し", "task_done": "事務センターの作業を完了",
}
# The office's own tasks from a mail (bot/actions/tasks.py).
OFFICE_TASKS: Mapping[str, str] = {
    "unis_ssid": "Original SSID（Z200549）のUNIS確定", "notice_resend": "登録通知書の再発送",
}
TEMPLATE_ACTIONS: Mapping[str, str] = {"save": "保存", "revert": "以前の版に戻す", "builtin": "組み込みに戻す"}
YES, NO = "あり", "なし"

# -- keys of stored details (audit entries, ledger events, vendor rows, facts) ----------------

DETAIL_KEYS: Mapping[str, str] = {
    **FIELDS, "note": "メモ", "typed": "入力した値", "values": "入力した値", "defects": "不備", "warnings": "注意",
    "outbox_id": "送信箱", "to": "宛先", "done": "結果", "message": "内容", "attachment": "添付",
    "filename": "ファイル名", "bytes": "サイズ", "batch": "便", "file": "ファイル", "user": "ユーザー", "role": "役割",
    "reason": "理由", "template": "テンプレート", "version": "版", "reverted_from": "元の版", "vendor_row": "ベンダー行",
    "purpose": "種類", "subject": "件名", "before": "変更前", "status": "状態", "attempts": "試行回数",
    "last_error": "最後のエラー", "decision": "判定", "kind": "種別", "batch_date": "便の日", "unis_status": "UNISの契約状態",
    "action": "内容", "count": "台数", "vendor": "ベンダー", "form_kind": "申込書の種類", "form_shape": "申込書の形式",
    "form_detail": "読み取りの記録", "schedule": "予定", "variant": "区分", "decided_by": "判定した人",
    "reprocessed": "再処理", "previous_error": "前回のエラー", "deaths": "処理中の停止", "solo": "単独",
    "block": "まとめて", "oversize": "大きすぎるメール", "scanned": "スキャン", "shape": "形式", "display_name": "表示名",
    "form_refer": "申込書参照の項目", "termination_shape": "解約申請書の形式", "termination_unsure": "解約申請書の不確かな項目",
    "corporate": "法人", "registration": "登録G", "limit": "上限", "name": "名前", "management_no": "管理番号",
    "enterprise": "法人", "list_row": "リストの行", "arrival_from": "到着予定（から）", "arrival_to": "到着予定（まで）",
    "staff": "担当者", "site": "設置先", "unsure": "不確かな項目", "code": "顧客コード", "codes": "顧客コード",
    "remark": "差戻メールへの連絡", "claimed_by": "対応中の人",
}
# Stored values that are codes of their own.
_VALUE_WORDS: Mapping[str, str] = {
    "new": "新規", "removed": "未送信の発注を取消（費用なし）", "cost": "送付済みのためキャンセル行（費用発生）",
    "none": "システムから送った発注なし", "password": "パスワード違い", "disabled": "無効なユーザー",
}


def value_text(value: Any, key: str = "") -> str:
    """A stored value as staff read it: booleans あり/なし, lists joined with 、, mappings as
    「項目：値」, codes (decisions, defects, kinds, fields, purposes …) in Japanese."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool) and key == "done":
        return "成功" if value else "失敗"
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, (list, tuple)):
        return "、".join(value_text(v, key) for v in value) or "—"
    if isinstance(value, Mapping):
        return "、".join(f"{detail_key(k)}：{value_text(v, str(k))}" for k, v in value.items()) or "—"
    text = str(value)
    if key in _ERROR_KEYS:
        return technical(text)
    for table in _value_tables(key):
        if text in table:
            return table[text]
    if re.fullmatch(r"[A-Z][A-Z_]{4,}", text):
        return code_name(text)
    return plain(text)


_ERROR_KEYS = frozenset({"last_error", "message", "previous_error", "error"})


def _value_tables(key: str) -> Sequence[Mapping[str, str]]:
    by_key: Mapping[str, Sequence[Mapping[str, str]]] = {
        "decision": (DECISIONS,), "kind": (KINDS,), "purpose": (OUTBOX_PURPOSES,), "status": (OUTBOX_STATUSES,),
        "role": (ROLES,), "line_kind": (LINE_KINDS,), "line_type": (LINE_TYPES,), "form_kind": (FORM_KINDS,),
        "form_shape": (FORM_SHAPES,), "shape": (FORM_SHAPES,), "variant": (FORM_KINDS, KINDS),
    }
    return (*by_key.get(key, ()), _VALUE_WORDS, LINE_KINDS, LINE_TYPES)


def detail_key(key: object) -> str:
    return DETAIL_KEYS.get(str(key)) or field_name(str(key)) if _is_code(str(key)) else str(key)


def _is_code(key: str) -> bool:
    return bool(re.fullmatch(r"[a-z][a-z0-9_.]*", key))


def detail_lines(detail: Mapping[str, Any] | None) -> tuple[tuple[str, str, bool], ...]:
    """A stored detail mapping as (label, text, is_data) lines for a page; `is_data`: the text
    is what a mail or a person wrote (a shop name, an address), not a word of the bot's."""
    out = []
    for k, v in (detail or {}).items():
        text = value_text(v, str(k))
        out.append((detail_key(k), text, isinstance(v, str) and text == v))
    return tuple(out)


# The reader's limits ([limits], bot/config/limits.py) a reason may name: 「上限 pdf_seconds」.
LIMITS: Mapping[str, str] = {
    "mail_bytes": "メールの大きさ", "attachments": "添付ファイルの数", "mime_parts": "メールの部品の数",
    "mime_depth": "メールの入れ子の深さ", "header_bytes": "ヘッダーの大きさ", "pdf_bytes": "PDFのファイルサイズ",
    "pdf_pages": "PDFのページ数", "pdf_objects": "PDF内部のオブジェクト数", "pdf_stream_bytes": "PDF内部データの展開後サイズ",
    "pdf_document_bytes": "PDF内部データの展開後サイズ（合計）", "pdf_field_nodes": "フォーム項目の数",
    "pdf_image_pixels": "画像の大きさ（画素数）", "pdf_seconds": "PDF1通の読み取り時間", "mail_seconds": "メール1通の読み取り時間",
    "worker_memory_mb": "読み取りに使えるメモリ", "reader_attempts": "読み取りの試行回数", "solo_deaths": "処理中の停止回数",
    "ocr_page_seconds": "スキャン1ページの読み取り時間", "ocr_pages": "スキャンで見るページ数",
}

# -- config keys and commands in stored sentences ---------------------------------------------

CONFIG_KEYS: Mapping[str, str] = {
    "[scans] integrated": "統合申込書のスキャンの扱い（設定）", "[scans] accept": "スキャン申込書の受付（設定）",
    "[scans] reject_codes": "スキャンで差戻す不備（設定）", "[vendor] pdf_password": "ベンダー用PDFのパスワード（設定）",
    "[corporate] registration_to": "登録Gの宛先（設定）", "[corporate] senders": "法人営業の送信者（設定）",
    "[mailbox] since": "メール取得の開始日（設定）", "[mailbox] max_age_days": "メール取得の期間（設定）",
    "[templates] dir": "テンプレートの上書きフォルダ（設定）", "[senders] max_replies_per_hour": "返信の上限（設定）",
    "[senders] authentication": "送信者認証の扱い（設定）", "[office] digest_to": "日次レポートの宛先（設定）",
    "[vendor] to": "ベンダーの宛先（設定）",
}
COMMANDS: Mapping[str, str] = {
    "bot run": "ボットの常駐処理", "bot reprocess --quarantined": "隔離の再処理", "bot reprocess": "隔離の再処理",
    "bot outbox list": "送信箱", "bot users add": "ユーザーの追加", "bot manual resolve": "保留の対応済み",
    "bot scan-values set": "申込書参照の値の入力", "bot db upgrade": "データベースの更新", "bot web": "コンソール",
}
# English a reader, a server or Python leaves in a stored sentence → what a person needs to know.
_ENGLISH: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"application form is a scan with no text layer"), "申込書がスキャン画像です（文字情報なし）"),
    (re.compile(r"the reader process exited[^:：（(]*(?:\([^)]*\))?"), "読み取り処理が異常終了しました"),
    (re.compile(r"reading took over [\d.]+ ?s"), "読み取りが時間の上限を超えました"),
    (re.compile(r"no text layer[^（(]*(?:\((?:not the form|[^)]*)\))?"), "文字情報のないPDF（申込書ではない可能性）"),
    (re.compile(r"row (\w+): not trusted"), "行の位置が不確か"),
)
_CONFIG_HINT = re.compile(r"[（(]\s*(\[[a-z_]+\] [a-z_]+)(?:\s*=\s*[^）)]*)?\s*[）)]")
_CONFIG_KEY = re.compile(r"(\[[a-z_]+\] [a-z_]+)(?:\s*=\s*(\"[^\"]*\"|\S+))?(?:\s*/\s*([a-z_]+))?")
_COMMAND = re.compile(r"`?(bot [a-z][a-z-]*(?: [a-z][a-z-]*)?(?: --[a-z-]+)?)`?")
_CODE = re.compile(r"\b[A-Z][A-Z_]{4,}\b")
_SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+(?:\.[a-z0-9_]+)?\b")
_LEFTOVER_ENGLISH = re.compile(r"\b[A-Za-z]{2,}(?:[ ,'-]+[A-Za-z]{2,}){2,}\b")


def _config_words(m: re.Match[str]) -> str:
    state = {"false": "が無効", "true": "が有効"}.get((m.group(2) or "").strip('"'), "")
    return config_name(m.group(1)) + state


def config_name(key: str) -> str:
    return CONFIG_KEYS.get(key, "ボットの設定")


def command_name(command: str) -> str:
    for known in sorted(COMMANDS, key=len, reverse=True):
        if command.startswith(known):
            return COMMANDS[known]
    return "管理者の操作"


def plain(text: str) -> str:
    """A stored sentence in office words: codes, field keys, kinds, config keys and commands
    named in Japanese, backticks and a reader's English replaced. Japanese is left as it is."""
    if not text:
        return ""
    out = _CONFIG_HINT.sub(lambda m: f"（{config_name(m.group(1))}による）", text)
    out = _CONFIG_KEY.sub(_config_words, out)
    out = _COMMAND.sub(lambda m: f"「{command_name(m.group(1))}」", out).replace("`", "")
    for pattern, words in _ENGLISH:
        out = pattern.sub(words, out)
    out = _CODE.sub(lambda m: code_name(m.group(0)) if m.group(0) in _ALL_CODES else m.group(0), out)
    # 「ご希望のメールアドレス（mail_local）」 (bot/decide/scans.py label()): the label says it already.
    out = re.sub(r"（([a-z][a-z0-9_.]*)）", lambda m: "" if m.group(1).split(".")[0] in FIELDS else m.group(0), out)
    out = _SNAKE.sub(lambda m: _snake(m.group(0)), out)
    for kind, label in KINDS.items():
        out = re.sub(rf"(?<![A-Za-z_]){re.escape(kind)}(?![A-Za-z_])", label, out)
    return out


def _snake(word: str) -> str:
    head = word.split(".")[0]
    for table in (FIELDS, KINDS, LEDGER_EVENTS, OUTBOX_PURPOSES, LIMITS, DETAIL_KEYS, LINE_KINDS):
        if head in table:
            return field_name(word) if table is FIELDS else table[head]
    return word


_ALL_CODES = frozenset(DEFECTS) | frozenset(WARNINGS) | frozenset(_OTHER_CODES)


def technical(text: str) -> str:
    """A technical message (a server's refusal, an exception) shortened to what a person can
    act on; the message itself goes in a title attribute or an admin's details."""
    low = (text or "").lower()
    for needle, words in (("recipientsrefused", "宛先のサーバーが受け取りを拒否しました"),
                          ("mailbox full", "宛先のメールボックスが満杯です"),
                          ("disconnected", "送信サーバーとの接続が切れました"),
                          ("timeout", "時間内に応答がありませんでした"), ("timed out", "時間内に応答がありませんでした"),
                          ("connection refused", "サーバーに接続できませんでした"),
                          ("authentication", "サーバーの認証に失敗しました"), ("digesterror", "日次レポートを作れませんでした"),
                          ("is empty", "宛先が設定されていません")):
        if needle in low:
            return words
    shown = plain(text)
    return shown if not _LEFTOVER_ENGLISH.search(shown) else "エラーが発生しました（詳細は管理者向けの記録）"


def mail_problem(text: str) -> str:
    """A problem the mail reader noted about a mail's headers or encoding, for a person."""
    found = re.match(r"header ([A-Za-z-]+):", text or "")
    if found:
        return f"ヘッダー「{found.group(1)}」に読み取れない部分がありました（補って読みました）"
    if "encoded word" in (text or ""):
        return "件名などに壊れた文字コードの部分がありました（そのまま表示しています）"
    return technical(text)
