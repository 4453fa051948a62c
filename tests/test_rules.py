"""Every rule of DESIGN.md, table-driven (issue 3): REAL mails through `bot process --dry-run --json`.

Each row is a mail built by the builder (ISO-2022-JP, CP50220 with ①㈱, Shift_JIS, UTF-8,
HTML-only) with a real encrypted PDF where the kind has one, the time it arrives, and what the
bot must answer: decision, the EXACT set of defects, the exact set of warnings. All rows are
decided against one SQLite world (tests/support/scenarios.py) prepared with `bot import-unis`
and, where the ledger matters, by the Processor acting on earlier mails or by `ledger.apply`.

A defect code proven in one row is asserted absent from every other row (exact sets), so a
rule that fires where it should not fails the table as surely as one that never fires.

The second half drives the Processor itself: what each accepted kind does (vendor rows with their
区分, ledger state and events), the 17:00 cutoff, free vs costly cancellation, the reply cap.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import db, ledger
from bot.config import BranchesConfig, Config, SendersConfig
from bot.db.models import (
    LedgerEntry,
    LedgerEvent,
    Mail,
    OutboxMessage,
    VendorBatch,
    VendorRow,
)
from bot.pipeline.outcome import Outcome
from bot.pipeline.processor import Processor
from tests.fixtures import pdfs
from tests.support import scenarios as sc
from tests.support.app import Clock, make_config, make_processor
from tests.support.mailbuilder import (
    build_auto_reply,
    build_bounce,
    encode_word,
)
from tests.support.scenarios import (
    CANCELLED,
    CORPORATE,
    DEFECT_CODES,
    INSTALLED,
    JST,
    MANAGER,
    NO_UNIS,
    NOW,
    ORDER,
    PDF,
    PLUS,
    SCHEDULED,
    SCHEDULED_UNIS_LATE,
    TERMINATED,
    WARNING_CODES,
    Row,
    form,
    order,
    order_body,
    request,
    request_body,
    termination_pdf,
)

ACCEPTED, REJECTED, MANUAL, IGNORED = "accepted", "rejected", "manual", "ignored"


# Codes whose ledger rows the Processor (or ledger.apply) writes before the table is decided.
FREE_CANCEL = "400000001"  # ordered by an accepted mail; its 新規 row not sent yet
COSTLY_CANCEL = "400000002"  # ordered; its 新規 row left in the 11-24 vendor batch (ships 11-26)
SHIPPED = "400000003"  # ledger only (no UNIS line): ordered → shipped
LEDGER_SCHEDULED = "500000001"  # ledger only: termination scheduled, no 解約日 recorded
LEDGER_DATED = "500000002"  # ledger 解約日 2026-12-25; UNIS says 2026/11/25: the ledger wins


def at(day: int, hour: int = 10, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=JST)


def html(body: str) -> str:
    """The plain body as the HTML an HTML-only mailer sends."""
    paras = "".join(f"<p>{line or '&nbsp;'}</p>\n" for line in body.splitlines())
    return f"<html><head><meta charset=\"utf-8\"></head><body>\n{paras}</body></html>\n"


def strip_headers(raw: bytes, *names: str) -> bytes:
    head, sep, rest = raw.partition(b"\r\n\r\n")
    kept = [line for line in head.split(b"\r\n") if not any(line.lower().startswith(n.lower().encode() + b":")
                                                            for n in names)]
    return b"\r\n".join(kept) + sep + rest


def feedback_report(original: bytes) -> bytes:
    """An ARF abuse report (RFC 5965) from a staff-domain address, with no other machine marker."""
    boundary = "ARF-boundary-1"
    return (
        "From: fbl@aoyama.usen.co.jp\r\nTo: usen_spot@mx.usen.co.jp\r\n"
        f"Subject: {encode_word('USEN SPOT 器材発注依頼_988776654')}\r\nDate: Mon, 30 Nov 2026 10:00:00 +0900\r\n"
        "Message-ID: <arf-1@aoyama.usen.co.jp>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: multipart/report; report-type=feedback-report;\r\n boundary=\"{boundary}\"\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThis is an abuse report.\r\n"
        f"--{boundary}\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: fbl/1.0\r\nVersion: 1\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
    ).encode("ascii") + original + f"\r\n--{boundary}--\r\n".encode("ascii")


# ================================================================================ the table

W_DATE = "解約日 : 2026/11/25"
NO_CC = None

# The defective order every "machine mail" row carries: were the machine rule missing, the bot
# would answer it with a 差戻 (CC_MANAGER_MISSING) instead of ignoring it.
_no_cc_order = order(cc=NO_CC, charset="utf-8")

ROWS: list[Row] = [
    # ---- 器材発注依頼 (new install): accepted, in every charset and body style ------------------
    Row("order-ok-iso2022jp", order(charset="iso-2022-jp"), ACCEPTED, why="the manual's example, typed form"),
    Row("order-ok-cp50220-plus-fillable-units-in-remarks",
        order(PLUS, charset="cp50220",
              pdf=form(PLUS, fillable=True, plus=True, ssid="+kitsune_Wi-Fi", parent_units="", child_units="",
                       remarks="親1台、子2台", shop_name="スパゲティーUSEN", mail_local="uspot",
                       mail_reading="ユーエスピーオーティー"),
              body=order_body(PLUS, plus="有", shop="スパゲティーUSEN",
                              extra=["㈱USEN青山 ①至急 ②設置日調整中"])),
        ACCEPTED, why="CP50220 ①㈱ body; units only in 備考 (親1台、子2台); Plus on form and body; "
                      "reading ユーエスピーオーティー spells uspot"),
    Row("order-ok-shift_jis-cid-stacked", order(charset="shift_jis", pdf=form(font="cid", layout="stacked")),
        ACCEPTED),
    Row("order-ok-html-only", order(charset="utf-8", body=html(order_body()), html_only=True), ACCEPTED),
    Row("order-ok-fullwidth-colon", order(charset="utf-8", body=order_body(colon="：", yn_sep="：")), ACCEPTED),
    Row("order-ok-no-colon", order(charset="iso-2022-jp", body=order_body(colon=" ", yn_sep="")), ACCEPTED,
        why="labels without any colon (リンク品使用無)"),
    Row("order-ok-extra-spaces", order(charset="cp50220", body=order_body(colon="　 ：　", yn_sep="　　")), ACCEPTED),
    Row("order-ok-halfwidth-colon-no-spaces", order(charset="shift_jis", body=order_body(colon=":", yn_sep=":")),
        ACCEPTED),
    Row("order-ok-bflets-family", order(pdf=form(line_kind="b_flets", line_type="family")), ACCEPTED),
    Row("order-ok-hikari-next-needs-no-type", order(pdf=form(line_kind="hikari_next", line_type=None)), ACCEPTED,
        why="negative LINE_TYPE_MISSING: 光ネクスト needs no ファミリー/マンション"),
    Row("order-ok-corporate-exempt-from-unis-order", order(CORPORATE, pdf=form(CORPORATE)), ACCEPTED,
        why="negative UNIS_ORDER_MISSING: the only UNIS line is 法人 (FAQ 3: 法人営業案件は対象外)"),
    Row("order-ok-fullwidth-body-code",
        order(body=order_body().replace("顧客CD : 988776654", "顧客CD : ９８８ ７７６ ６５４")), ACCEPTED,
        why="negative CUSTOMER_CODE_MISMATCH: a full-width code with spaces is the same code"),
    Row("order-ok-subject-drift",
        order(subject="Re: 【至急】ＵＳＥＮ　ＳＰＯＴ　器材発注依頼＿９８８７７６６５４", charset="cp50220"), ACCEPTED,
        kind="equipment_order"),
    Row("order-ok-reading-matches", order(pdf=form(mail_local="uspot", mail_reading="ユーエスピーオーティー")),
        ACCEPTED, why="negative MAIL_ADDRESS_READING_MISMATCH"),
    Row("order-ok-units-in-fields", order(pdf=form(parent_units="1", child_units="2"),
                                          body=order_body(extra=["子機2台も設置します。"])), ACCEPTED),
    Row("order-ok-units-in-body", order(pdf=form(parent_units="", child_units="", remarks="複数台設置"),
                                        body=order_body(extra=["親機1台、子機2台"])), ACCEPTED,
        why="negative UNIT_COUNT_MISSING: 複数台 in 備考, counts in the body"),
    Row("order-ok-manager-in-to", order(to=["usen_spot@mx.usen.co.jp", MANAGER], cc=NO_CC), ACCEPTED,
        why="negative CC_MANAGER_MISSING: the manager is addressed directly"),
    Row("order-ok-unknown-branch", order(from_="渋谷 <sato@shibuya.usen.co.jp>", cc=NO_CC,
                                         body=order_body(branch="渋谷支店")), ACCEPTED,
        why="a branch the directory does not know still works, without a manager to copy"),
    Row("order-ok-branch-without-manager", order(from_="新宿 <kato@shinjuku.usen.co.jp>", cc=NO_CC,
                                                 body=order_body(branch="新宿支店")), ACCEPTED),
    Row("order-ok-parent-domain-sender", order(from_="総務 <soumu@usen.co.jp>"), ACCEPTED,
        why="usen.co.jp itself is allowed; its branch comes from 送付支店名 (manager in CC)"),
    Row("order-ok-body-code-with-shop-name",
        order(body=order_body().replace("顧客CD : 988776654", "顧客CD : 988776654（カフェAOYAMA）")), ACCEPTED,
        why="negative CUSTOMER_CODE_MISMATCH: the 9-digit code opens the value; the rest is the shop"),
    Row("order-ok-subject-code-grouped", order(subject="USEN SPOT 器材発注依頼_988 776 654"), ACCEPTED),
    Row("order-ok-plus-and-link-label-variants",
        order(body=order_body(omit=["SPOT Plus該当", "リンク品使用"], extra=["リンク品 : 無", "USEN SPOT Plus : 無"])),
        ACCEPTED, why="リンク品 : 無 and USEN SPOT Plus : 無 are the two 有/無 lines"),
    Row("order-ok-plus-negative-sentence", order(body=order_body(plus="該当しません")), ACCEPTED,
        why="該当しません is 無, as the form says (not 有 because it opens with 該当)"),
    Row("order-ok-reading-variant-letter-names",
        order(pdf=form(mail_local="vw-da", mail_reading="ヴィーダブルユーハイフンディエイ")), ACCEPTED,
        why="ヴィー = v, ダブルユー = w, ディ = d, エイ = a"),
    Row("order-ok-reading-not-spellable", order(pdf=form(mail_local="c-aoya", mail_reading="シーハイフンアオヤ")),
        ACCEPTED, why="a reading that spells nothing is no proof of a different address (FORM-SPEC)"),
    Row("order-ok-units-body-with-model-names",
        order(pdf=form(parent_units="", child_units="", remarks="複数台設置"),
              body=order_body(extra=["親機（FGN-1000）1台", "子機(CR-1)2台"])), ACCEPTED,
        why="negative UNIT_COUNT_MISSING: a model name between 親機/子機 and the count"),
    Row("order-warn-shop-name-differs", order(pdf=form(shop_name="カフェ 青山")), ACCEPTED,
        warnings={"SHOP_NAME_DIFFERS"}),
    Row("order-ok-shop-name-same-after-nfkc", order(pdf=form(shop_name="カフェ　ＡＯＹＡＭＡ")), ACCEPTED,
        why="negative SHOP_NAME_DIFFERS: full-width and spacing are normalised"),

    # ---- subject ------------------------------------------------------------------------------
    Row("unknown-kind-spot-subject", request("問い合わせ", ORDER, request_body(ORDER, "確認させてください。")),
        REJECTED, {"UNKNOWN_KIND"}),
    Row("unknown-kind-code-only", request("", None, request_body(ORDER, "確認させてください。"),
                                          subject="お問い合わせ 988776654 の件"), REJECTED, {"UNKNOWN_KIND"},
        why="no USEN SPOT but a 9-digit code: still ours, answered with the valid subjects"),
    Row("unknown-kind-glued-withdrawal", request("解約キャンセル申請", SCHEDULED, request_body(SCHEDULED, W_DATE)),
        REJECTED, {"UNKNOWN_KIND"}, why="解約キャンセル申請 is neither キャンセル申請 nor 解約申請"),
    Row("manual-subject-names-neither", request("", None, "来週の会議の件です。\n", subject="来週の会議について"),
        MANUAL, why="never answered"),
    Row("code-missing-order", order(subject="USEN SPOT 器材発注依頼"), REJECTED, {"CUSTOMER_CODE_MISSING"}),
    Row("code-missing-8-digits", request("キャンセル申請", "98877665", request_body(ORDER)), REJECTED,
        {"CUSTOMER_CODE_MISSING"}, why="8 digits are no code"),
    Row("code-mismatch-body", order(body=order_body().replace("988776654", "988776655")), REJECTED,
        {"CUSTOMER_CODE_MISMATCH"}),
    Row("code-mismatch-form", order(pdf=form("988776655")), REJECTED, {"CUSTOMER_CODE_MISMATCH"}),
    Row("code-mismatch-termination-form",
        request("解約申請", INSTALLED, request_body(INSTALLED, "解約申請書を送付します。"),
                attachments=[("解約申請書.pdf", termination_pdf("300000009", "2026/11/30"), PDF)]),
        REJECTED, {"CUSTOMER_CODE_MISMATCH"}),

    # ---- the PDF ------------------------------------------------------------------------------
    Row("attachment-missing-order", order(attach=False), REJECTED, {"ATTACHMENT_MISSING"}),
    Row("attachment-missing-termination",
        request("解約申請", INSTALLED, request_body(INSTALLED, "解約をお願いします。", W_DATE)),
        REJECTED, {"ATTACHMENT_MISSING"}),
    Row("pdf-not-encrypted", order(pdf=form(encrypt=None), charset="shift_jis"), REJECTED, {"PDF_NOT_ENCRYPTED"}),
    Row("pdf-owner-password-only", order(pdf=form(encrypt="owner_only")), REJECTED, {"PDF_NOT_ENCRYPTED"},
        why="opens without a password: not protected in the manual's sense"),
    Row("pdf-not-encrypted-termination",
        request("解約申請", INSTALLED, request_body(INSTALLED),
                attachments=[("解約申請書.pdf", termination_pdf(INSTALLED, "2026/11/30", encrypt=None), PDF)]),
        REJECTED, {"PDF_NOT_ENCRYPTED"}),
    Row("pdf-wrong-password", order(pdf=form(password="secret")), REJECTED, {"PDF_WRONG_PASSWORD"}),
    Row("pdf-truncated", order(pdf=pdfs.truncate(form())), REJECTED, {"PDF_UNREADABLE"}),
    Row("pdf-eml-renamed", order(pdf=pdfs.eml_renamed_pdf()), REJECTED, {"PDF_UNREADABLE"}),
    Row("pdf-scan-is-manual", order(pdf=sc.scan()), MANUAL, why="a scan is never rejected"),

    # ---- UNIS and the form ----------------------------------------------------------------------
    Row("unis-order-missing", order(NO_UNIS, pdf=form(NO_UNIS)), REJECTED, {"UNIS_ORDER_MISSING"}),
    Row("unis-order-missing-only-terminated-line", order(TERMINATED, pdf=form(TERMINATED)), REJECTED,
        {"UNIS_ORDER_MISSING"}, why="a 解約 line is no order"),
    Row("line-kind-missing", order(pdf=form(line_kind=None)), REJECTED, {"LINE_KIND_MISSING"}),
    Row("line-kind-both-marked", order(pdf=form(line_kind=["hikari_next", "b_flets"], line_type="family")),
        REJECTED, {"LINE_KIND_MISSING"}),
    Row("line-type-missing-bflets", order(pdf=form(line_kind="b_flets", line_type=None)), REJECTED,
        {"LINE_TYPE_MISSING"}),
    Row("mail-address-missing", order(pdf=form(mail_local="", mail_reading="")), REJECTED,
        {"MAIL_ADDRESS_MISSING"}),
    Row("mail-address-invalid", order(pdf=form(mail_local="aoya..cafe", mail_reading="")), REJECTED,
        {"MAIL_ADDRESS_INVALID"}),
    Row("mail-address-reading-mismatch", order(pdf=form(mail_local="c-aoya", mail_reading="シーハイフンエーオーワイ")),
        REJECTED, {"MAIL_ADDRESS_READING_MISMATCH"}),
    Row("ssid-fullwidth", order(pdf=form(ssid="ｋｉｔｓｕｎｅ＿Ｗｉ－Ｆｉ")), REJECTED, {"SSID_NOT_HALFWIDTH"},
        why="detected on the value as written, before NFKC would hide it"),
    Row("ssid-fullwidth-fillable", order(pdf=form(fillable=True, ssid="kitsune＿WiFi")), REJECTED,
        {"SSID_NOT_HALFWIDTH"}),
    Row("ssid-halfwidth-ok", order(pdf=form(ssid="+kitsune_Wi-Fi")), ACCEPTED),
    Row("ssid-circled-digit", order(pdf=form(fillable=True, ssid="cafe①")), REJECTED, {"SSID_NOT_HALFWIDTH"},
        why="① is not wide (East Asian width A) but is not half-width ASCII either"),
    Row("ssid-curly-apostrophe", order(pdf=form(fillable=True, ssid="cafe’s")), REJECTED, {"SSID_NOT_HALFWIDTH"}),
    Row("ssid-accented-letter", order(pdf=form(fillable=True, ssid="café_wifi")), REJECTED, {"SSID_NOT_HALFWIDTH"}),
    Row("ssid-halfwidth-katakana", order(pdf=form(fillable=True, ssid="ｶﾌｪWiFi")), REJECTED, {"SSID_NOT_HALFWIDTH"},
        why="manual §IV 半角オンリー means printable ASCII: half-width kana are no SSID characters"),
    Row("unit-count-missing-remarks", order(pdf=form(parent_units="", child_units="", remarks="複数台設置")),
        REJECTED, {"UNIT_COUNT_MISSING"}),
    Row("unit-count-missing-body", order(pdf=form(parent_units="", child_units=""),
                                         body=order_body(extra=["子機も設置予定です。"])),
        REJECTED, {"UNIT_COUNT_MISSING"}),
    Row("unit-count-unreadable-fillable-box", order(pdf=form(fillable=True, parent_units="1", child_units="数台")),
        REJECTED, {"UNIT_COUNT_MISSING"}, why="a 子機 box that holds no count is sent back, not read as 0"),
    Row("unit-count-unreadable-typed-row", order(pdf=form(parent_units="1", child_units="未定")),
        REJECTED, {"UNIT_COUNT_MISSING"}),
    Row("body-field-missing-staff", order(body=order_body(staff=None)), REJECTED, {"BODY_FIELD_MISSING"}),
    Row("body-field-plus-unreadable", order(body=order_body(plus="未定")), REJECTED, {"BODY_FIELD_MISSING"},
        why="SPOT Plus該当 written but neither 有 nor 無: not an answer"),
    Row("body-field-plus-template-left", order(body=order_body(plus="有/無")), REJECTED, {"BODY_FIELD_MISSING"}),
    Row("plus-flag-mismatch-body-negative-sentence", order(pdf=form(plus=True), body=order_body(plus="該当しません")),
        REJECTED, {"PLUS_FLAG_MISMATCH"}, why="該当しません is 無, the form says Plus"),
    Row("body-field-missing-plus-and-link", order(body=order_body(omit=["SPOT Plus該当", "リンク品使用"])), REJECTED,
        {"BODY_FIELD_MISSING"}),
    Row("plus-flag-mismatch-body-yes", order(body=order_body(plus="有")), REJECTED, {"PLUS_FLAG_MISMATCH"}),
    Row("plus-flag-mismatch-form-yes", order(pdf=form(plus=True), body=order_body(plus="無")), REJECTED,
        {"PLUS_FLAG_MISMATCH"}),
    Row("cc-manager-missing", order(cc=NO_CC), REJECTED, {"CC_MANAGER_MISSING"}),
    Row("cc-manager-missing-branch-from-body", order(from_="総務 <soumu@usen.co.jp>", cc=NO_CC), REJECTED,
        {"CC_MANAGER_MISSING"}, why="sender domain names no branch: 送付支店名 青山支店 does"),
    Row("cc-manager-missing-cancellation", request("キャンセル申請", ORDER, request_body(ORDER), cc=NO_CC),
        REJECTED, {"CC_MANAGER_MISSING"}),
    Row("many-defects-at-once",
        order(pdf=form(encrypt=None, line_kind="b_flets", line_type=None, ssid="ＵＳＥＮ_FREE",
                       mail_local="c-aoya", mail_reading="シーエーオーワイエー"),
              body=order_body(staff=None, plus="有"), cc=NO_CC, charset="cp50220"),
        REJECTED, {"PDF_NOT_ENCRYPTED", "LINE_TYPE_MISSING", "SSID_NOT_HALFWIDTH", "MAIL_ADDRESS_READING_MISMATCH",
                   "BODY_FIELD_MISSING", "PLUS_FLAG_MISMATCH", "CC_MANAGER_MISSING"},
        why="every defect of one mail in one 差戻"),

    # ---- 子機 追加/交換 (no form) --------------------------------------------------------------------
    Row("child-unit-ok", request("器材発注依頼", INSTALLED, request_body(INSTALLED, "子機の追加をお願いします。",
                                                                     "子機 2台"), charset="iso-2022-jp"),
        ACCEPTED),
    Row("child-unit-ok-count-after-word", request("器材発注依頼", INSTALLED, request_body(INSTALLED, "子機追加 2台")),
        ACCEPTED),
    Row("child-unit-ok-count-before-verb", request("器材発注依頼", INSTALLED,
                                                   request_body(INSTALLED, "子機を1台追加してください。")), ACCEPTED),
    Row("child-unit-ok-exchange-count", request("器材発注依頼", INSTALLED, request_body(INSTALLED, "子機交換 1台")),
        ACCEPTED),
    Row("child-unit-ok-model-in-brackets",
        request("器材発注依頼", INSTALLED, request_body(INSTALLED, "子機（CR-1）2台の追加をお願いします。")), ACCEPTED),
    Row("child-unit-ok-manual-wording-kizai", request("機材発注依頼", INSTALLED,
                                                      request_body(INSTALLED, "子機の追加をお願いします。", "子機 2台")),
        ACCEPTED, kind="equipment_order", why="manual §V: 子機の機材発注依頼"),
    Row("child-unit-count-missing", request("器材発注依頼", INSTALLED,
                                            request_body(INSTALLED, "子機の交換をお願いします。")),
        REJECTED, {"UNIT_COUNT_MISSING"}),
    Row("child-unit-for-terminated", request("器材発注依頼", TERMINATED,
                                             request_body(TERMINATED, "子機の追加をお願いします。", "子機1台")),
        REJECTED, {"STATE_CONFLICT"}),
    Row("child-unit-unknown-customer", request("器材発注依頼", NO_UNIS,
                                               request_body(NO_UNIS, "子機の追加をお願いします。", "子機1台")),
        REJECTED, {"CUSTOMER_NOT_FOUND"}),
    Row("child-unit-body-field-missing",
        request("器材発注依頼", INSTALLED, "子機の追加をお願いします。\n子機 1台\n顧客CD : 300000001\n"),
        REJECTED, {"BODY_FIELD_MISSING"}),

    # ---- 契約変更 ------------------------------------------------------------------------------------
    Row("change-ok-without-evidence", request("契約変更", INSTALLED,
                                              request_body(INSTALLED, "変更内容 : 店舗名をカフェ青山に変更"),
                                              charset="shift_jis"), ACCEPTED),
    Row("change-body-field-missing", request("契約変更", INSTALLED, request_body(INSTALLED, "よろしくです。")),
        REJECTED, {"BODY_FIELD_MISSING"}),
    Row("change-terminated", request("契約変更", TERMINATED, request_body(TERMINATED, "変更内容 : 住所変更")),
        REJECTED, {"STATE_CONFLICT"}),
    Row("change-unknown-customer", request("契約変更", NO_UNIS, request_body(NO_UNIS, "変更内容 : 住所変更")),
        REJECTED, {"CUSTOMER_NOT_FOUND"}),

    # ---- キャンセル申請 --------------------------------------------------------------------------------
    Row("cancel-unis-only-order-is-manual", request("キャンセル申請", ORDER, request_body(ORDER), charset="cp50220"),
        MANUAL, why="no ledger row, no 新規 row: the bot never sent the order, so a person cancels it with the "
                    "vendor (manual §VI); accepting it would tell nobody"),
    Row("cancel-free-before-batch", request("キャンセル申請", FREE_CANCEL, request_body(FREE_CANCEL)), ACCEPTED,
        now=at(24, 16), why="same day, order not sent: no CANCEL_COSTS"),
    Row("cancel-costs-after-batch", request("キャンセル申請", COSTLY_CANCEL, request_body(COSTLY_CANCEL)), ACCEPTED,
        warnings={"CANCEL_COSTS"}, now=at(25)),
    Row("cancel-costs-and-router-return", request("キャンセル申請", COSTLY_CANCEL, request_body(COSTLY_CANCEL)),
        ACCEPTED, warnings={"CANCEL_COSTS", "ROUTER_RETURN_DUE"}, now=at(26), why="on the ship date (N+2)"),
    Row("cancel-shipped", request("キャンセル申請", SHIPPED, request_body(SHIPPED)), ACCEPTED,
        warnings={"ROUTER_RETURN_DUE"}, why="ledger says shipped; a code only the ledger knows is found"),
    Row("cancel-after-install", request("キャンセル申請", INSTALLED, request_body(INSTALLED)), REJECTED,
        {"STATE_CONFLICT"}),
    Row("cancel-unknown-customer", request("キャンセル申請", NO_UNIS, request_body(NO_UNIS)), REJECTED,
        {"CUSTOMER_NOT_FOUND"}),
    Row("cancel-manual-alias", request("キャンセル依頼", FREE_CANCEL, request_body(FREE_CANCEL)), ACCEPTED,
        kind="cancellation", why="the manual's own heading キャンセル依頼"),
    Row("cancel-subject-code-hyphenated", request("キャンセル申請", FREE_CANCEL, request_body(FREE_CANCEL),
                                                  subject="USEN SPOT キャンセル申請_400-000-001"), ACCEPTED,
        why="a code written 3-3-3 after the prefix is the code"),

    # ---- 解約申請 -------------------------------------------------------------------------------------
    Row("termination-ok", request("解約申請", INSTALLED, request_body(INSTALLED, "解約申請書を送付します。"),
                                  attachments=[("解約申請書.pdf", termination_pdf(INSTALLED, "2026/11/30"), PDF)],
                                  charset="iso-2022-jp"), ACCEPTED),
    Row("termination-ok-reiwa-date-stacked",
        request("解約申請", INSTALLED, request_body(INSTALLED),
                attachments=[("解約申請書.pdf", termination_pdf(INSTALLED, "令和8年11月30日", layout="stacked"), PDF)]),
        ACCEPTED),
    Row("termination-ok-date-in-body",
        request("解約申請", INSTALLED, request_body(INSTALLED, "解約日：2026年11月30日"),
                attachments=[("解約申請書.pdf", termination_pdf(INSTALLED, None), PDF)]), ACCEPTED),
    Row("termination-date-missing",
        request("解約申請", INSTALLED, request_body(INSTALLED),
                attachments=[("解約申請書.pdf", termination_pdf(INSTALLED, None), PDF)]),
        REJECTED, {"TERMINATION_DATE_MISSING"}),
    Row("termination-date-not-a-date",
        request("解約申請", INSTALLED, request_body(INSTALLED, "解約日 : 2026/02/30"),
                attachments=[("解約申請書.pdf", termination_pdf(INSTALLED, "2026/02/30"), PDF)]),
        REJECTED, {"TERMINATION_DATE_MISSING"}),
    Row("termination-ok-after-forced-termination",
        request("解約申請", TERMINATED, request_body(TERMINATED, "強制解約済みのため、プロバイダ契約の解除をお願いします。"),
                attachments=[("解約申請書.pdf", termination_pdf(TERMINATED, "2026/10/31"), PDF)]),
        ACCEPTED, why="manual §II: 解約時（強制解約後含む）のプロバイダ契約の解除依頼"),
    Row("termination-ok-already-registered-in-unis",
        request("解約申請", SCHEDULED, request_body(SCHEDULED),
                attachments=[("解約申請書.pdf", termination_pdf(SCHEDULED, "2026/12/25"), PDF)]),
        ACCEPTED, why="UNIS 確定 with a 解約日 (予定登録, manual §VI) is no conflict: the date is updated"),
    Row("termination-cancelled-customer",
        request("解約申請", CANCELLED, request_body(CANCELLED),
                attachments=[("解約申請書.pdf", termination_pdf(CANCELLED, "2026/11/30"), PDF)]),
        REJECTED, {"STATE_CONFLICT"}),
    Row("termination-unknown-customer",
        request("解約申請", NO_UNIS, request_body(NO_UNIS),
                attachments=[("解約申請書.pdf", termination_pdf(NO_UNIS, "2026/11/30"), PDF)]),
        REJECTED, {"CUSTOMER_NOT_FOUND"}),
    Row("termination-wrong-password",
        request("解約申請", INSTALLED, request_body(INSTALLED, W_DATE),
                attachments=[("解約申請書.pdf", pdfs.termination_form(INSTALLED, password="secret"), PDF)]),
        REJECTED, {"PDF_WRONG_PASSWORD"}),
    Row("termination-scan-is-manual",
        request("解約申請", INSTALLED, request_body(INSTALLED, W_DATE),
                attachments=[("解約申請書.pdf", sc.scan(), PDF)]),
        MANUAL, why="DESIGN: a form with no text layer is manual, never rejected (nor accepted "
                                   "unchecked on the body's 解約日)"),

    # ---- ルーター未撤去 ---------------------------------------------------------------------------------
    Row("router-ok-labelled-reason", request("ルーター未撤去", TERMINATED,
                                             request_body(TERMINATED, "理由 : お客様と連絡が取れず撤去できていません。"),
                                             charset="cp50220"), ACCEPTED),
    Row("router-ok-free-text-reason", request("ルーター未撤去", TERMINATED,
                                              request_body(TERMINATED, "お客様がルーターを紛失されました。")),
        ACCEPTED),
    Row("router-reason-missing", request("ルーター未撤去", TERMINATED, request_body(TERMINATED)), REJECTED,
        {"REASON_MISSING"}, why="greeting, labels and sign-off are no reason"),
    Row("router-reason-missing-signature",
        request("ルーター未撤去", TERMINATED, request_body(TERMINATED) + "\n青山支店 総務 内田\n"), REJECTED,
        {"REASON_MISSING"}, why="a signature line is no reason either"),
    Row("router-reason-missing-self-introduction",
        request("ルーター未撤去", TERMINATED, request_body(TERMINATED, "青山支店の内田です。", greeting="お疲れ様です。")),
        REJECTED, {"REASON_MISSING"}, why="a self-introduction is no reason"),
    Row("router-reason-missing-announcement",
        request("ルーター未撤去", TERMINATED,
                request_body(TERMINATED, "ルーター未撤去の報告です。", "下記の通りご報告いたします。")),
        REJECTED, {"REASON_MISSING"}, why="announcing the report is no reason"),
    Row("router-reason-label-left-empty",
        request("ルーター未撤去", TERMINATED,
                "お疲れ様です。\n顧客CD : 300000003\n店舗名 : カフェ AOYAMA\n送付支店名 : 青山支店\n担当者名 : 内田\n"
                "理由：\n\nよろしくお願いいたします。\n"),
        REJECTED, {"REASON_MISSING"}, why="the sign-off after a blank line is not the 理由"),
    Row("router-installed-customer", request("ルーター未撤去", INSTALLED,
                                             request_body(INSTALLED, "理由 : 閉店済みのため")),
        REJECTED, {"STATE_CONFLICT"}),
    Row("router-unknown-customer", request("ルーター未撤去", NO_UNIS, request_body(NO_UNIS, "理由 : 閉店済みのため")),
        REJECTED, {"CUSTOMER_NOT_FOUND"}),

    # ---- 移設依頼 -------------------------------------------------------------------------------------
    Row("relocation-ok-hikari-next", request("移設依頼", INSTALLED,
                                             request_body(INSTALLED, "移設先住所 : 東京都渋谷区神南1-2-3",
                                                          "移設先回線種別 : フレッツ光ネクスト"),
                                             charset="shift_jis"), ACCEPTED),
    Row("relocation-ok-bflets-mansion", request("移設依頼", INSTALLED,
                                                request_body(INSTALLED, "移設先住所：東京都渋谷区神南1-2-3",
                                                             "移設先回線種別：Ｂフレッツ マンション")), ACCEPTED),
    Row("relocation-ok-plain-line-label", request("移設依頼", INSTALLED,
                                                  request_body(INSTALLED, "移設先住所 : 東京都渋谷区神南1-2-3",
                                                               "回線種別 : フレッツ光ネクスト")), ACCEPTED,
        why="in a 移設依頼 the only line type asked for is the destination's"),
    Row("relocation-line-missing", request("移設依頼", INSTALLED,
                                           request_body(INSTALLED, "移設先住所 : 東京都渋谷区神南1-2-3")),
        REJECTED, {"DESTINATION_LINE_MISSING"}),
    Row("relocation-bflets-without-type", request("移設依頼", INSTALLED,
                                                  request_body(INSTALLED, "移設先住所 : 東京都渋谷区神南1-2-3",
                                                               "移設先回線種別 : Bフレッツ")),
        REJECTED, {"DESTINATION_LINE_MISSING"}),
    Row("relocation-address-missing", request("移設依頼", INSTALLED,
                                              request_body(INSTALLED, "移設先回線種別 : フレッツ光ネクスト")),
        REJECTED, {"BODY_FIELD_MISSING"}),
    Row("relocation-before-install", request("移設依頼", ORDER,
                                             request_body(ORDER, "移設先住所 : 東京都渋谷区神南1-2-3",
                                                          "移設先回線種別 : フレッツ光ネクスト")),
        REJECTED, {"STATE_CONFLICT"}),
    Row("relocation-unknown-customer", request("移設依頼", NO_UNIS,
                                               request_body(NO_UNIS, "移設先住所 : 東京都渋谷区神南1-2-3",
                                                            "移設先回線種別 : フレッツ光ネクスト")),
        REJECTED, {"CUSTOMER_NOT_FOUND"}),

    # ---- 解約キャンセル依頼: 解約日 Wed 2026-11-25, Mon 11-23 a holiday → last day Thu 11-19 ------------
    Row("withdrawal-in-time-on-deadline", request("解約キャンセル依頼", SCHEDULED, request_body(SCHEDULED),
                                                  charset="iso-2022-jp"), ACCEPTED, now=at(19, 10)),
    Row("withdrawal-in-time-last-minute-jst", request("解約キャンセル依頼", SCHEDULED, request_body(SCHEDULED)),
        ACCEPTED, now=at(19, 23, 59)),
    Row("withdrawal-in-time-separated-alias", request("解約・キャンセル依頼", SCHEDULED, request_body(SCHEDULED)),
        ACCEPTED, now=at(19, 10), kind="termination_withdrawal",
        why="解約・キャンセル依頼 withdraws a termination; it is no キャンセル申請"),
    Row("withdrawal-too-late-next-day", request("解約キャンセル依頼", SCHEDULED, request_body(SCHEDULED)), REJECTED,
        {"WITHDRAWAL_TOO_LATE"}, now=at(20, 9)),
    Row("withdrawal-too-late-midnight-jst", request("解約キャンセル依頼", SCHEDULED, request_body(SCHEDULED)),
        REJECTED, {"WITHDRAWAL_TOO_LATE"}, now=dt.datetime(2026, 11, 19, 15, 0, tzinfo=dt.UTC),
        why="00:00 on 11-20 in Japan is still 11-19 in UTC: Japan time decides"),
    Row("withdrawal-date-from-body", request("解約キャンセル依頼", LEDGER_SCHEDULED,
                                             request_body(LEDGER_SCHEDULED, "解約日：令和8年11月25日")),
        ACCEPTED, now=at(19, 10), why="neither ledger nor UNIS has a 解約日: the body's counts"),
    Row("withdrawal-date-from-body-too-late", request("解約キャンセル依頼", LEDGER_SCHEDULED,
                                                      request_body(LEDGER_SCHEDULED, "解約日 2026-11-25")),
        REJECTED, {"WITHDRAWAL_TOO_LATE"}, now=at(20, 10)),
    Row("withdrawal-ledger-date-wins", request("解約キャンセル依頼", LEDGER_DATED,
                                               request_body(LEDGER_DATED, "解約日 : 2026/11/25")),
        ACCEPTED, now=at(20, 10), why="ledger 12-25 over UNIS and body 11-25"),
    Row("withdrawal-unis-date-over-body", request("解約キャンセル依頼", SCHEDULED_UNIS_LATE,
                                                  request_body(SCHEDULED_UNIS_LATE, "解約日 : 2026/12/25")),
        REJECTED, {"WITHDRAWAL_TOO_LATE"}, now=at(20, 10), why="UNIS 11-25 over the body's 12-25"),
    Row("withdrawal-date-missing", request("解約キャンセル依頼", LEDGER_SCHEDULED, request_body(LEDGER_SCHEDULED)),
        REJECTED, {"TERMINATION_DATE_MISSING"}, now=at(19, 10)),
    Row("withdrawal-nothing-scheduled", request("解約キャンセル依頼", INSTALLED, request_body(INSTALLED, W_DATE)),
        REJECTED, {"STATE_CONFLICT"}, now=at(19, 10)),
    Row("withdrawal-nothing-scheduled-no-date", request("解約キャンセル依頼", INSTALLED, request_body(INSTALLED)),
        REJECTED, {"STATE_CONFLICT"}, now=at(19, 10), why="nothing to withdraw: no date is asked for"),
    Row("withdrawal-unknown-customer", request("解約キャンセル依頼", NO_UNIS, request_body(NO_UNIS, W_DATE)),
        REJECTED, {"CUSTOMER_NOT_FOUND"}, now=at(19, 10)),

    # ---- who may write ---------------------------------------------------------------------------
    Row("ignored-lookalike-domain", order(from_="内田 <uchida@usen.co.jp.evil.example>"), IGNORED),
    Row("ignored-glued-domain", order(from_="内田 <uchida@evilusen.co.jp>"), IGNORED),
    Row("ignored-no-from", order(from_=None), IGNORED),
    Row("ignored-bounce-dsn", build_bounce(_no_cc_order), IGNORED),
    Row("ignored-bounce-headers-only", build_bounce(_no_cc_order, headers_only=True), IGNORED),
    Row("ignored-dsn-report-alone",
        strip_headers(build_bounce(_no_cc_order, from_="notice@aoyama.usen.co.jp",
                                   subject=encode_word("USEN SPOT 器材発注依頼_988776654")),
                     "Auto-Submitted", "Return-Path"),
        IGNORED, why="multipart/report is enough, without any other marker"),
    Row("ignored-feedback-report", feedback_report(_no_cc_order), IGNORED),
    Row("ignored-auto-reply-rfc3834", build_auto_reply(style="rfc3834"), IGNORED),
    Row("ignored-auto-reply-exchange", build_auto_reply(style="exchange"), IGNORED),
    Row("ignored-auto-reply-vacation", build_auto_reply(style="vacation"), IGNORED),
    Row("ignored-auto-reply-subject-jidououtou", build_auto_reply(style="bare"), IGNORED),
    Row("ignored-auto-reply-subject-jidouhenshin",
        build_auto_reply("自動返信：USEN SPOT キャンセル申請_988776654", style="bare"), IGNORED),
    Row("ignored-auto-submitted-alone", order(cc=NO_CC, headers={"Auto-Submitted": "auto-generated"}), IGNORED,
        why="Auto-Submitted with an ordinary subject and sender"),
    Row("ignored-empty-return-path", order(cc=NO_CC, headers={"Return-Path": "<>"}), IGNORED),
    Row("ignored-mailer-daemon", order(cc=NO_CC, from_="MAILER-DAEMON@aoyama.usen.co.jp"), IGNORED),
    Row("ignored-postmaster", order(cc=NO_CC, from_="postmaster@aoyama.usen.co.jp"), IGNORED),
    Row("ignored-precedence-bulk", order(cc=NO_CC, headers={"Precedence": "bulk"}), IGNORED),
    Row("ignored-precedence-junk", order(cc=NO_CC, headers={"Precedence": "junk"}), IGNORED),
    Row("ignored-precedence-list", order(cc=NO_CC, headers={"Precedence": "list"}), IGNORED),
    Row("ignored-x-auto-response-suppress", order(cc=NO_CC, headers={"X-Auto-Response-Suppress": "OOF, AutoReply"}),
        IGNORED),
    Row("answered-auto-submitted-no", order(cc=NO_CC, headers={"Auto-Submitted": "no"}), REJECTED,
        {"CC_MANAGER_MISSING"}, why="Auto-Submitted: no is a person"),
]


def _ids(rows: list[Row]) -> list[str]:
    ids = [r.id for r in rows]
    assert len(ids) == len(set(ids)), "duplicate row ids"
    return ids


# ================================================================================ the world


def _apply(session: Session, code: str, *events: str, termination_date: dt.date | None = None) -> None:
    for event in events:
        updates = {"termination_date": termination_date} if event == "schedule_termination" and termination_date else None
        ledger.apply(session, code, event, now=NOW - dt.timedelta(days=30), updates=updates)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The SQLite database every row is decided against, prepared as an office would have it."""
    root = tmp_path_factory.mktemp("rules")
    url = f"sqlite:///{root / 'bot.sqlite3'}"
    branches = root / "branches.csv"
    branches.write_text(sc.BRANCHES_CSV, encoding="utf-8")
    env = sc.cli_env(url, branches)
    extra = [sc.unis_line(FREE_CANCEL, "受注"), sc.unis_line(COSTLY_CANCEL, "受注"),
             sc.unis_line(LEDGER_DATED, "確定", termination="2026/11/25")]
    sc.import_unis(sc.unis_csv(extra), env=env, cwd=root)

    # Earlier mails the Processor acted on: two orders accepted on Tue 11-24 10:00.
    cfg = rules_config(url, branches)
    processor, factory = make_processor(cfg, Clock(NOW))
    for uid, code in enumerate((FREE_CANCEL, COSTLY_CANCEL), start=1):
        outcome = run(processor, order(code, pdf=form(code)), uid=uid)
        assert outcome.decision == ACCEPTED, outcome
    with factory() as s, s.begin():
        # The 11-24 vendor batch carried COSTLY_CANCEL's order (bot.vendor would stamp it so).
        batch = VendorBatch(batch_date=dt.date(2026, 11, 24), created_at=at(24, 17, 5), row_count=1)
        s.add(batch)
        s.flush()
        [row] = s.scalars(select(VendorRow).where(VendorRow.customer_code == COSTLY_CANCEL)).all()
        row.batch_id = batch.id
        _apply(s, SHIPPED, "order", "ship")
        _apply(s, LEDGER_SCHEDULED, "order", "install", "schedule_termination")
        _apply(s, LEDGER_DATED, "order", "install", "schedule_termination", termination_date=dt.date(2026, 12, 25))
    factory.kw["bind"].dispose()
    return {"root": root, "url": url, "env": env, "branches": branches}


@pytest.fixture(scope="module")
def decided(world: dict[str, object]) -> dict[str, dict[str, object]]:
    """Every row decided by `bot process --dry-run --json --now …` (one call per arrival time)."""
    return sc.run_dry(ROWS, env=world["env"], cwd=world["root"])  # type: ignore[arg-type]


@pytest.mark.parametrize("row", ROWS, ids=_ids(ROWS))
def test_rule_table(row: Row, decided: dict[str, dict[str, object]]) -> None:
    """Given the mail of the row arriving at its time, when `bot process --dry-run --json` decides
    it, then decision, defects and warnings are exactly the row's."""
    got = decided[row.id]
    assert (got["decision"], set(got["defects"]), set(got["warnings"])) == (  # type: ignore[arg-type]
        row.decision, set(row.defects), set(row.warnings)), f"{row.why}\n{got}"
    if row.kind is not None:
        assert got["kind"] == row.kind, got


def test_the_table_covers_every_code() -> None:
    """Every defect code and warning of DESIGN.md is the expected outcome of some row, and each
    has a row of its own where it is the only one."""
    seen = set().union(*(r.defects for r in ROWS))
    assert seen == DEFECT_CODES
    assert set().union(*(r.warnings for r in ROWS)) == WARNING_CODES
    alone = {next(iter(r.defects)) for r in ROWS if len(r.defects) == 1}
    assert alone == DEFECT_CODES
    assert any(len(r.defects) >= 4 for r in ROWS)
    charsets = b"".join(r.raw for r in ROWS)
    for label in (b"ISO-2022-JP", b"Shift_JIS", b"UTF-8", b"text/html"):
        assert label in charsets


# ================================================================================ the Processor


def rules_config(url: str, branches: Path | None = None, *, max_replies: int = 20, cutoff: str = "17:00") -> Config:
    cfg = make_config(url)
    cfg = cfg.replace(senders=dataclasses.replace(SendersConfig(), max_replies_per_hour=max_replies),
                      office=dataclasses.replace(cfg.office, cutoff=cutoff))
    if branches is not None:
        cfg = cfg.replace(branches=BranchesConfig(file=str(branches)))
    return cfg


_uids = iter(range(1000, 10**6))


def run(processor: Processor, raw: bytes, *, uid: int | None = None) -> Outcome:
    stored = processor.store(raw, folder="INBOX", uidvalidity=1, uid=uid or next(_uids))
    mail_id, new = stored.mail_id, stored.is_new
    assert new
    outcome = processor.process(mail_id)
    assert outcome is not None
    return outcome


# Extra UNIS lines of the Processor tests: installed customers enough for one request each.
INSTALLED_2, INSTALLED_3, INSTALLED_4 = "300000011", "300000012", "300000013"


class Office:
    """The bot as the daemon runs it, minus IMAP: a fresh SQLite DB with the UNIS extract and the
    branch directory, a Processor, and a clock the test moves."""

    def __init__(self, root: Path, **config: object) -> None:
        url = f"sqlite:///{root / 'office.sqlite3'}"
        db.upgrade(url)
        branches = root / "branches.csv"
        branches.write_text(sc.BRANCHES_CSV, encoding="utf-8")
        cfg = rules_config(url, branches, **config)  # type: ignore[arg-type]
        self.cfg = cfg
        self.clock = Clock(NOW)
        self.processor, self.factory = make_processor(cfg, self.clock)
        extra = [sc.unis_line(c, "確定") for c in (INSTALLED_2, INSTALLED_3, INSTALLED_4)]
        with db.transaction(self.factory) as s:
            from bot.unis import import_extract

            import_extract(s, sc.unis_csv(extra).encode("cp932"), name="unis.csv", now=NOW)

    def send(self, raw: bytes, when: dt.datetime | None = None) -> Outcome:
        if when is not None:
            self.clock.now = when
        outcome = run(self.processor, raw)
        assert outcome.decision != "quarantined", outcome
        return outcome

    def vendor_rows(self, code: str) -> list[VendorRow]:
        with self.factory() as s:
            return list(s.scalars(select(VendorRow).where(VendorRow.customer_code == code).order_by(VendorRow.id)))

    def entry(self, code: str) -> LedgerEntry:
        with self.factory() as s:
            entry = s.get(LedgerEntry, code)
            assert entry is not None, f"no ledger row for {code}"
            return entry

    def events(self, code: str) -> list[tuple[str, str | None, str]]:
        with self.factory() as s:
            return [(e.event, e.from_state, e.to_state) for e in
                    s.scalars(select(LedgerEvent).where(LedgerEvent.customer_code == code).order_by(LedgerEvent.id))]

    def stamp_batch(self, *row_ids: int, day: dt.date) -> None:
        """What bot.vendor does when a batch goes out: the rows carry the batch id."""
        with db.transaction(self.factory) as s:
            batch = VendorBatch(batch_date=day, created_at=dt.datetime.combine(day, dt.time(17, 5), JST),
                                row_count=len(row_ids))
            s.add(batch)
            s.flush()
            for row_id in row_ids:
                s.get(VendorRow, row_id).batch_id = batch.id  # type: ignore[union-attr]

    def replies(self) -> int:
        with self.factory() as s:
            return len(s.scalars(select(OutboxMessage)).all())


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Office]:
    o = Office(tmp_path)
    yield o
    o.processor.factory.kw["bind"].dispose()


def accepted(outcome: Outcome, *warnings: str) -> None:
    assert (outcome.decision, outcome.defects, set(outcome.warnings)) == (ACCEPTED, (), set(warnings)), outcome


# -------------------------------------------------------------------- the seven kinds, accepted


def test_new_install_queues_a_new_row_for_the_day_and_orders_the_ledger(office: Office) -> None:
    """Given UNIS 受注 for 988776654, when its order with form (親1 子2, Bフレッツ ファミリー) arrives
    Tue 11-24 10:00, then a 新規 row is queued for the 11-24 batch, shipping N+2 (11-26) and
    arriving N+3–5 (11-27–12-01), and the ledger says ordered, with the form's details."""
    raw = order(pdf=form(line_kind="b_flets", line_type="family", parent_units="1", child_units="2"))
    accepted(office.send(raw, NOW))
    [row] = office.vendor_rows(ORDER)
    assert (row.category, row.batch_date, row.ship_date, row.batch_id) == (
        "新規", dt.date(2026, 11, 24), dt.date(2026, 11, 26), None)
    p = row.payload
    assert (p["arrival_from"], p["arrival_to"]) == ("2026-11-27", "2026-12-01")
    assert (p["line_kind"], p["line_type"], p["mail_address"], p["plus"]) == ("Bフレッツ", "ファミリー", "c-aoya@uspot.jp",
                                                                             False)
    assert (p["parent_units"], p["child_units"], p["branch"], p["staff"]) == (1, 2, "青山支店", "内田")
    entry = office.entry(ORDER)
    assert (entry.state, entry.shop_name, entry.parent_units, entry.child_units) == ("ordered", "カフェ AOYAMA", 1, 2)
    assert office.events(ORDER) == [("order", None, "ordered")]
    with office.factory() as s:
        schedule = s.scalar(select(Mail.facts).where(Mail.customer_code == ORDER))["schedule"]
    assert schedule == "11/24便 出荷予定 11/26 到着予定 11/27–12/01"


def test_second_new_install_for_a_live_customer_is_held_not_sent_twice(office: Office) -> None:
    accepted(office.send(order()))
    again = office.send(order(pdf=form(ssid="x")))
    assert again.decision == MANUAL and again.defects == ()
    assert len(office.vendor_rows(ORDER)) == 1


def test_child_unit_add_and_exchange_for_an_installed_customer(office: Office) -> None:
    """Given an installed customer (UNIS 確定, not yet in the ledger), when 子機 追加 2台 and then
    子機 交換 1台 arrive without a form, then two 子機 rows ship N+2, the ledger is seeded from UNIS
    as installed, and only the addition raises its child count."""
    add = request("器材発注依頼", INSTALLED, request_body(INSTALLED, "子機の追加をお願いします。", "子機 2台"))
    accepted(office.send(add))
    swap = request("器材発注依頼", INSTALLED, request_body(INSTALLED, "子機の交換をお願いします。", "子機：1台"),
                   charset="cp50220")
    accepted(office.send(swap))
    rows = office.vendor_rows(INSTALLED)
    assert [(r.category, r.payload["child_units"], r.payload["note"], r.ship_date) for r in rows] == [
        ("子機", 2, "子機追加", dt.date(2026, 11, 26)), ("子機", 1, "子機交換", dt.date(2026, 11, 26))]
    entry = office.entry(INSTALLED)
    assert (entry.state, entry.child_units) == ("installed", 2)
    assert office.events(INSTALLED) == [("seed_from_unis", None, "installed"), ("child_unit", "installed", "installed"),
                                        ("child_unit", "installed", "installed")]


def test_contract_change_goes_in_the_next_batch(office: Office) -> None:
    """Given an installed customer, when a 契約変更 in Outlook's ISO-2022-JP (CP50220: ㈱ ①) arrives
    at 17:30, then a 変更 row carrying the 変更内容 as written goes in the next day's batch."""
    raw = request("契約変更", INSTALLED, request_body(INSTALLED, "変更内容 : 店舗名を「㈱カフェ青山①号店」に変更",
                                                     "（看板の掛け替えのため）"), charset="cp50220")
    accepted(office.send(raw, at(24, 17, 30)))
    [row] = office.vendor_rows(INSTALLED)
    assert (row.category, row.batch_date) == ("変更", dt.date(2026, 11, 25))
    assert row.payload["note"] == "店舗名を「㈱カフェ青山①号店」に変更\n（看板の掛け替えのため）"  # as written
    assert office.events(INSTALLED)[-1] == ("change", "installed", "installed")


def test_cancellation_before_the_batch_is_free_and_removes_the_order(office: Office) -> None:
    """Given an order accepted Tue 10:00, when its キャンセル申請 arrives the same afternoon, before
    the batch, then no CANCEL_COSTS, the queued 新規 row is cancelled (cancelled_at) and nothing new
    goes to the vendor; the ledger is cancelled."""
    accepted(office.send(order(), NOW))
    accepted(office.send(request("キャンセル申請", ORDER, request_body(ORDER)), at(24, 16)))
    [row] = office.vendor_rows(ORDER)
    assert row.category == "新規" and row.cancelled_at == at(24, 16)
    assert office.entry(ORDER).state == "cancelled"
    assert office.events(ORDER) == [("order", None, "ordered"), ("cancel", "ordered", "cancelled")]


def test_cancellation_after_the_batch_costs_and_sends_a_cancel_row(office: Office) -> None:
    """Given an order that left in Tue's batch, when the キャンセル申請 comes Wed, then CANCEL_COSTS
    (manual §VII), the 新規 row stays sent and a キャンセル row goes in Wed's batch."""
    accepted(office.send(order(), NOW))
    [new] = office.vendor_rows(ORDER)
    office.stamp_batch(new.id, day=dt.date(2026, 11, 24))
    accepted(office.send(request("キャンセル申請", ORDER, request_body(ORDER)), at(25)), "CANCEL_COSTS")
    new, cancel = office.vendor_rows(ORDER)
    assert new.cancelled_at is None and new.batch_id is not None
    assert (cancel.category, cancel.batch_date, cancel.payload["cancels_row"]) == ("キャンセル", dt.date(2026, 11, 25),
                                                                                   new.id)
    assert office.entry(ORDER).state == "cancelled"


def test_cancel_row_uses_the_configured_cutoff(tmp_path: Path) -> None:
    """Given [office] cutoff 16:00, when a costly cancellation arrives Wed 16:30, then its キャンセル
    row is for Thursday's batch (the office calendar, not a default 17:00 one)."""
    office = Office(tmp_path, cutoff="16:00")
    accepted(office.send(order(), NOW))
    [new] = office.vendor_rows(ORDER)
    office.stamp_batch(new.id, day=dt.date(2026, 11, 24))
    accepted(office.send(request("キャンセル申請", ORDER, request_body(ORDER)), at(25, 16, 30)), "CANCEL_COSTS")
    assert office.vendor_rows(ORDER)[-1].batch_date == dt.date(2026, 11, 26)


def test_termination_then_withdrawal_in_time(office: Office) -> None:
    """Given an installed customer, when the 解約申請 with its 解約申請書 (解約日 11-30) arrives, then a
    解約 row is queued and the ledger is termination scheduled; when the 解約キャンセル依頼 arrives
    on the last day (Wed 11-25, 3 business days before Mon 11-30) then the unsent 解約 row is
    cancelled and the ledger is installed again; a second withdrawal is a STATE_CONFLICT 差戻,
    never a crash, and so is a キャンセル申請 after install."""
    raw = request("解約申請", INSTALLED, request_body(INSTALLED, "解約申請書を送付します。"),
                  attachments=[("解約申請書.pdf", termination_pdf(INSTALLED, "2026/11/30"), PDF)])
    accepted(office.send(raw, NOW))
    [row] = office.vendor_rows(INSTALLED)
    assert (row.category, row.payload["termination_date"], row.batch_date) == ("解約", "2026-11-30",
                                                                               dt.date(2026, 11, 24))
    entry = office.entry(INSTALLED)
    assert (entry.state, entry.termination_date) == ("termination_scheduled", dt.date(2026, 11, 30))

    accepted(office.send(request("解約キャンセル依頼", INSTALLED, request_body(INSTALLED)), at(25, 18)))
    [row] = office.vendor_rows(INSTALLED)
    assert row.cancelled_at == at(25, 18)
    entry = office.entry(INSTALLED)
    assert (entry.state, entry.termination_date) == ("installed", None)
    assert [e[0] for e in office.events(INSTALLED)] == ["seed_from_unis", "schedule_termination", "withdraw_termination"]

    again = office.send(request("解約キャンセル依頼", INSTALLED, request_body(INSTALLED, "解約日 : 2026/11/30")),
                        at(25, 18))
    assert (again.decision, again.defects) == (REJECTED, ("STATE_CONFLICT",))
    cancel = office.send(request("キャンセル申請", INSTALLED, request_body(INSTALLED)), at(25, 18))
    assert (cancel.decision, cancel.defects) == (REJECTED, ("STATE_CONFLICT",))
    assert office.replies() == 2
    assert office.entry(INSTALLED).state == "installed"


def test_withdrawal_too_late_leaves_the_termination(office: Office) -> None:
    raw = request("解約申請", INSTALLED, request_body(INSTALLED),
                  attachments=[("解約申請書.pdf", termination_pdf(INSTALLED, "2026/11/30"), PDF)])
    accepted(office.send(raw, NOW))
    late = office.send(request("解約キャンセル依頼", INSTALLED, request_body(INSTALLED)), at(26, 9))
    assert (late.decision, late.defects) == (REJECTED, ("WITHDRAWAL_TOO_LATE",))
    assert office.entry(INSTALLED).state == "termination_scheduled"
    assert office.vendor_rows(INSTALLED)[0].cancelled_at is None


def test_withdrawal_after_the_termination_was_sent_tells_the_vendor(office: Office) -> None:
    raw = request("解約申請", INSTALLED, request_body(INSTALLED),
                  attachments=[("解約申請書.pdf", termination_pdf(INSTALLED, "2026/11/30"), PDF)])
    accepted(office.send(raw, NOW))
    [term] = office.vendor_rows(INSTALLED)
    office.stamp_batch(term.id, day=dt.date(2026, 11, 24))
    accepted(office.send(request("解約キャンセル依頼", INSTALLED, request_body(INSTALLED)), at(25)))
    term, change = office.vendor_rows(INSTALLED)
    assert term.cancelled_at is None
    assert change.category == "変更" and "2026/11/30" in change.payload["note"]
    assert office.entry(INSTALLED).state == "installed"


@pytest.mark.parametrize(("code", "date_in_form", "date_in_body"), [
    (INSTALLED, "2026/11/30", None),
    (INSTALLED_2, "令和8年11月30日", None),
    (INSTALLED_3, None, "解約日 : 2026-11-30"),
    (INSTALLED_4, None, "解約日　２０２６年１１月３０日"),
], ids=["form-slash", "form-reiwa", "body-hyphen", "body-kanji-fullwidth-no-colon"])
def test_termination_date_in_every_written_form(office: Office, code: str, date_in_form: str | None,
                                                date_in_body: str | None) -> None:
    body = request_body(code, *([date_in_body] if date_in_body else []))
    raw = request("解約申請", code, body, charset="iso-2022-jp",
                  attachments=[("解約申請書.pdf", termination_pdf(code, date_in_form), PDF)])
    accepted(office.send(raw))
    assert office.entry(code).termination_date == dt.date(2026, 11, 30)


def test_router_not_removed_records_the_reason_and_the_lost_router_fee(office: Office) -> None:
    raw = request("ルーター未撤去", TERMINATED, request_body(TERMINATED, "お客様がルーターを紛失されたため回収できません。"))
    accepted(office.send(raw))
    entry = office.entry(TERMINATED)
    assert entry.state == "terminated" and entry.router_not_removed
    assert entry.data["router_not_removed_reason"] == "お客様がルーターを紛失されたため回収できません。"
    assert entry.data["lost_router_fee"] is True
    assert office.vendor_rows(TERMINATED) == []


def test_relocation_queues_a_router_exchange_with_the_new_line(office: Office) -> None:
    raw = request("移設依頼", INSTALLED, request_body(INSTALLED, "移設先住所 : 東京都渋谷区神南1-2-3",
                                                     "移設先回線種別 : Bフレッツ マンション"))
    accepted(office.send(raw))
    [row] = office.vendor_rows(INSTALLED)
    assert (row.category, row.ship_date) == ("移設", dt.date(2026, 11, 26))
    p = row.payload
    assert (p["shop_address"], p["line_kind"], p["line_type"]) == ("東京都渋谷区神南1-2-3", "Bフレッツ", "マンション")
    entry = office.entry(INSTALLED)
    assert entry.data["shop_address"] == "東京都渋谷区神南1-2-3" and entry.state == "installed"
    assert office.events(INSTALLED)[-1] == ("relocate", "installed", "installed")


# -------------------------------------------------------------------- time rules (Japan time)


@pytest.mark.parametrize(("received", "batch", "ship", "arrive"), [
    (at(24, 17, 0), "2026-11-24", "2026-11-26", ("2026-11-27", "2026-12-01")),
    (at(24, 17, 1), "2026-11-25", "2026-11-27", ("2026-11-30", "2026-12-02")),
    (dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC), "2026-11-24", "2026-11-26", ("2026-11-27", "2026-12-01")),
    (dt.datetime(2026, 11, 24, 8, 1, tzinfo=dt.UTC), "2026-11-25", "2026-11-27", ("2026-11-30", "2026-12-02")),
    (at(20, 17, 30), "2026-11-24", "2026-11-26", ("2026-11-27", "2026-12-01")),
    (at(23, 10), "2026-11-24", "2026-11-26", ("2026-11-27", "2026-12-01")),
], ids=["tue-17:00", "tue-17:01", "utc-08:00-is-17:00-jst", "utc-08:01", "fri-evening-over-holiday-monday",
        "holiday-monday"])
def test_cutoff_17_decides_the_batch_day_and_the_delivery(office: Office, received: dt.datetime, batch: str,
                                                          ship: str, arrive: tuple[str, str]) -> None:
    """Orders by 17:00 (Japan time) on business day N go in N's batch, later ones in N+1's; the
    vendor ships N+2 and it arrives N+3–5, counted over business days (Mon 11-23 is 勤労感謝の日)."""
    accepted(office.send(order(), received))
    [row] = office.vendor_rows(ORDER)
    assert (row.batch_date.isoformat(), row.ship_date.isoformat()) == (batch, ship)  # type: ignore[union-attr]
    assert (row.payload["arrival_from"], row.payload["arrival_to"]) == arrive


# -------------------------------------------------------------------- the ledger state machine


STATES = ("ordered", "shipped", "installed", "termination_scheduled", "terminated", "cancelled")
_PATHS = {
    "ordered": ("order",), "shipped": ("order", "ship"), "installed": ("order", "install"),
    "termination_scheduled": ("order", "install", "schedule_termination"),
    "terminated": ("order", "install", "terminate"), "cancelled": ("order", "cancel"),
}
# Which request each state allows (DESIGN.md kinds + ledger): O accepted, x STATE_CONFLICT.
#                 ordered shipped installed t_sched terminated cancelled
ALLOWED = {
    "child_unit":   "O       O       O         x       x          x",
    "change":       "O       O       O         O       x          x",
    "cancel":       "O       O       x         x       x          x",
    "termination":  "x       O       O         O       O          x",
    "router":       "x       x       x         O       O          O",
    "relocation":   "x       O       O         x       x          x",
    "withdrawal":   "x       x       x         O       x          x",
}


def _state_code(state: str) -> str:
    return f"60000000{STATES.index(state)}"


def _mail_for(kind: str, code: str) -> bytes:
    if kind == "child_unit":
        return request("器材発注依頼", code, request_body(code, "子機の追加をお願いします。", "子機1台"))
    if kind == "change":
        return request("契約変更", code, request_body(code, "変更内容 : 電話番号変更"))
    if kind == "cancel":
        return request("キャンセル申請", code, request_body(code))
    if kind == "termination":
        return request("解約申請", code, request_body(code),
                       attachments=[("解約申請書.pdf", termination_pdf(code, "2026/12/25"), PDF)])
    if kind == "router":
        return request("ルーター未撤去", code, request_body(code, "理由 : 閉店済みで連絡不可"))
    if kind == "relocation":
        return request("移設依頼", code, request_body(code, "移設先住所 : 東京都港区1-1", "移設先回線種別 : 光ネクスト"))
    return request("解約キャンセル依頼", code, request_body(code))


@pytest.mark.parametrize("kind", list(ALLOWED))
def test_every_request_in_every_ledger_state_is_decided_never_a_crash(office: Office, kind: str) -> None:
    """Given a ledger row in each state (written by ledger.apply; no UNIS line), when the request
    arrives, then it is accepted where the state allows it and otherwise a STATE_CONFLICT 差戻;
    never a quarantine (LedgerError) and never a silent accept."""
    with db.transaction(office.factory) as s:
        for state in STATES:
            for event in _PATHS[state]:
                updates = {"termination_date": dt.date(2026, 12, 25)} if event == "schedule_termination" else None
                ledger.apply(s, _state_code(state), event, now=NOW - dt.timedelta(days=60), updates=updates)
    got = {}
    for state in STATES:
        outcome = office.send(_mail_for(kind, _state_code(state)))
        conflict = outcome.decision == REJECTED and "STATE_CONFLICT" in outcome.defects
        got[state] = "O" if outcome.decision == ACCEPTED else "x" if conflict else outcome
    assert got == dict(zip(STATES, ALLOWED[kind].split(), strict=True))


# -------------------------------------------------------------------- who may write, reply cap


def test_reply_cap_per_sender_per_hour_holds_the_rest_for_a_person(tmp_path: Path) -> None:
    """Given [senders] max_replies_per_hour = 2, when one sender sends three defective mails in an
    hour, then two are answered and the third is manual (not answered); another sender is still
    answered; the next hour the first sender is answered again."""
    office = Office(tmp_path, max_replies=2)
    bad = lambda **kw: order(cc=NO_CC, **kw)
    decisions = [office.send(bad(), at(24, 10, m)).decision for m in (0, 10, 20)]
    assert decisions == [REJECTED, REJECTED, MANUAL]
    third = office.send(bad(), at(24, 10, 30))
    assert third.decision == MANUAL and third.defects == ("CC_MANAGER_MISSING",) and third.reply_to == ()
    other = office.send(bad(from_="佐藤 <sato@aoyama.usen.co.jp>"), at(24, 10, 40))
    assert other.decision == REJECTED
    assert office.send(bad(), at(24, 11, 5)).decision == REJECTED
    assert office.replies() == 4


def test_machine_mail_through_the_processor_queues_nothing(office: Office) -> None:
    for raw in (build_bounce(order(cc=NO_CC)), build_auto_reply(style="exchange"),
                order(cc=NO_CC, headers={"Precedence": "junk"}),
                order(cc=NO_CC, from_="内田 <uchida@usen.co.jp.evil.example>")):
        assert office.send(raw).decision == IGNORED
    assert office.replies() == 0


def test_reply_to_a_mail_without_the_manager_copies_the_manager(office: Office) -> None:
    """DESIGN.md: a 差戻 goes to the sender, CC the branch manager, also when the branch left them out."""
    outcome = office.send(order(cc=NO_CC))
    assert outcome.defects == ("CC_MANAGER_MISSING",)
    assert set(outcome.reply_to) == {"uchida@aoyama.usen.co.jp", MANAGER}


def test_router_reason_starting_with_branch_is_kept() -> None:
    """Regression: a reason line that begins with 支店 (支店で保管中…) is a reason, not a sign-off."""
    from bot.checks.router import reason_text
    from bot.mail.body import parse_body

    class _F:
        body = parse_body("お疲れ様です。\n支店で保管中のため未撤去です。\n青山支店 総務 内田\n")

    assert reason_text(_F()) == "支店で保管中のため未撤去です。"  # type: ignore[arg-type]


# -------------------------------------------------------------------- review fixes (Processor)


@pytest.mark.parametrize(("fillable", "parent", "child"), [
    (False, ": 1", ": 2"),  # typed 台数 row: 親機 : 1 台 子機 : 2 台 (a space before the colon)
    (True, "1台", "2台"),  # fillable boxes holding 台
    (False, "一", "二"),  # kanji digits
    (True, "一", "二台"),
], ids=["typed-spaced-colon", "fillable-with-dai", "typed-kanji", "fillable-kanji"])
def test_router_counts_written_any_way_reach_the_vendor_row(office: Office, fillable: bool, parent: str,
                                                            child: str) -> None:
    """Given a form whose 台数 says 1 parent and 2 children in any of the ways staff write it, when
    the order is accepted, then the vendor row and the ledger carry 1 and 2 (never the 1/0 default)."""
    accepted(office.send(order(pdf=form(fillable=fillable, parent_units=parent, child_units=child))))
    [row] = office.vendor_rows(ORDER)
    assert (row.payload["parent_units"], row.payload["child_units"]) == (1, 2)
    entry = office.entry(ORDER)
    assert (entry.parent_units, entry.child_units) == (1, 2)


def test_termination_after_forced_termination_releases_the_provider_and_stays_terminated(office: Office) -> None:
    """Given UNIS 解約 with a past 解約日 (forced termination), when the 解約申請 arrives, then a 解約
    row goes to the vendor (provider release), the ledger stays terminated with the UNIS date, and
    the event is recorded."""
    raw = request("解約申請", TERMINATED, request_body(TERMINATED),
                  attachments=[("解約申請書.pdf", termination_pdf(TERMINATED, "2026/10/31"), PDF)])
    accepted(office.send(raw))
    [row] = office.vendor_rows(TERMINATED)
    assert (row.category, row.payload["termination_date"]) == ("解約", "2026-10-31")
    assert "強制解約後" in row.payload["note"]
    entry = office.entry(TERMINATED)
    assert (entry.state, entry.termination_date) == ("terminated", dt.date(2026, 10, 31))
    assert office.events(TERMINATED) == [("seed_from_unis", None, "terminated"),
                                         ("schedule_termination", "terminated", "terminated")]


def test_second_termination_request_updates_the_date_and_replaces_the_unsent_row(office: Office) -> None:
    """Given a 解約申請 for 11-30 whose 解約 row has not left, when a second one says 12-25, then the
    first row is withdrawn, one row with 12-25 is queued and the ledger says 12-25; once that row
    has left, a third (12-28) is a new row and the sent one stays."""
    def termination(day: str) -> bytes:
        return request("解約申請", INSTALLED, request_body(INSTALLED),
                       attachments=[("解約申請書.pdf", termination_pdf(INSTALLED, day), PDF)])

    accepted(office.send(termination("2026/11/30")))
    accepted(office.send(termination("2026/12/25"), at(24, 11)))
    first, second = office.vendor_rows(INSTALLED)
    assert first.cancelled_at == at(24, 11) and second.cancelled_at is None
    assert second.payload["termination_date"] == "2026-12-25" and "2026/11/30 → 2026/12/25" in second.payload["note"]
    entry = office.entry(INSTALLED)
    assert (entry.state, entry.termination_date) == ("termination_scheduled", dt.date(2026, 12, 25))
    assert [e[1:] for e in office.events(INSTALLED)][-1] == ("termination_scheduled", "termination_scheduled")

    office.stamp_batch(second.id, day=dt.date(2026, 11, 24))
    accepted(office.send(termination("2026/12/28"), at(25)))
    _first, second, third = office.vendor_rows(INSTALLED)
    assert second.cancelled_at is None and second.batch_id is not None
    assert (third.payload["termination_date"], third.cancelled_at) == ("2026-12-28", None)


def test_termination_of_a_customer_unis_already_registered_seeds_it_scheduled(office: Office) -> None:
    """UNIS 確定 with a 解約日 (予定登録): the 解約申請 is accepted, not a STATE_CONFLICT."""
    raw = request("解約申請", SCHEDULED, request_body(SCHEDULED),
                  attachments=[("解約申請書.pdf", termination_pdf(SCHEDULED, "2026/11/25"), PDF)])
    accepted(office.send(raw))
    [row] = office.vendor_rows(SCHEDULED)
    assert row.category == "解約"
    assert office.events(SCHEDULED) == [("seed_from_unis", None, "termination_scheduled"),
                                        ("schedule_termination", "termination_scheduled", "termination_scheduled")]


def test_cancelling_an_order_the_bot_never_sent_is_held_for_a_person(office: Office) -> None:
    """Given a customer known only from UNIS (no ledger row, no 新規 row), when its キャンセル申請
    arrives, then it is manual with a reason in Japanese; nothing is queued, the ledger is untouched."""
    outcome = office.send(request("キャンセル申請", ORDER, request_body(ORDER)))
    assert (outcome.decision, outcome.defects, outcome.reply_to) == (MANUAL, (), ())
    assert "発注" in outcome.reason and "ファイバーゲート" in outcome.reason
    assert office.vendor_rows(ORDER) == []
    with office.factory() as s:
        assert s.get(LedgerEntry, ORDER) is None
    assert office.replies() == 0


def _reply_text(office: Office) -> str:
    import email
    from email import policy

    with office.factory() as s:
        raw = s.scalars(select(OutboxMessage.raw).order_by(OutboxMessage.id.desc())).first()
    assert raw is not None
    msg = email.message_from_bytes(raw, policy=policy.default)
    return msg.get_content()  # type: ignore[union-attr]


def test_reply_asks_for_the_same_subject_only_when_the_subject_was_fine(office: Office) -> None:
    office.send(order(cc=NO_CC))
    assert "同じ件名で再送" in _reply_text(office)
    office.send(order(subject="USEN SPOT 器材発注依頼"))
    text = _reply_text(office)
    assert "【件名に顧客コードなし】" in text and "同じ件名" not in text and "修正のうえ再送" in text
    office.send(request("問い合わせ", ORDER, request_body(ORDER)))
    text = _reply_text(office)
    assert "【件名の依頼種別が不明】" in text and "同じ件名" not in text


def test_reply_names_the_termination_form_and_words_the_state_neutrally(office: Office) -> None:
    office.send(request("解約申請", INSTALLED, request_body(INSTALLED, W_DATE)))
    text = _reply_text(office)
    assert "解約申請書のPDF" in text and "申込書" not in text.replace("解約申請書", "")
    office.send(request("キャンセル申請", CANCELLED, request_body(CANCELLED)))
    text = _reply_text(office)
    assert "この顧客は現在「キャンセル」のため" in text and "管理台帳で" not in text


def test_reply_for_a_child_unit_count_speaks_of_the_body(office: Office) -> None:
    office.send(request("器材発注依頼", INSTALLED, request_body(INSTALLED, "子機の交換をお願いします。")))
    text = _reply_text(office)
    assert "本文に「子機〇台」" in text and "申込書の備考" not in text


def test_cancelling_a_customer_seeded_from_unis_without_a_bot_order_is_manual(office: Office) -> None:
    """Given a UNIS-only 受注 customer whose ledger row was started by an earlier request (a
    契約変更), when a キャンセル申請 arrives, then it is held for a person: the order never went
    to the vendor through the bot, so accepting would tell nobody."""
    change = request("契約変更", sc.ORDER, request_body(sc.ORDER, "変更内容 : 店舗名をカフェ青山に変更"))
    accepted(office.send(change))
    assert office.events(sc.ORDER)[0][0] == "seed_from_unis"
    outcome = office.send(request("キャンセル申請", sc.ORDER, request_body(sc.ORDER)))
    assert outcome.decision == MANUAL and "システムから送られていません" in outcome.reason


def test_vendor_row_keeps_the_text_as_written(office: Office) -> None:
    """①, ㈱ and full-width letters exist in CP932: the vendor gets the shop name and the
    branch as the branch wrote them, not NFKC-folded (1, (株), ASCII)."""
    fields = dict(pdfs.DEFAULT_FIELDS, customer_code=sc.ORDER, shop_name="カフェ㈱ＡＯＹＡＭＡ①")
    body = order_body(sc.ORDER).replace("送付支店名 : 青山支店", "送付支店名 : 青山支店①")
    outcome = office.send(sc.order(sc.ORDER, pdf=pdfs.typed_form(fields), body=body, charset="cp50220"))
    assert outcome.decision == ACCEPTED, outcome
    [row] = office.vendor_rows(sc.ORDER)
    assert row.payload["shop_name"] == "カフェ㈱ＡＯＹＡＭＡ①"
    assert row.payload["branch"] == "青山支店①"
