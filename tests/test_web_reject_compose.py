"""差戻 by a person (issue 21 point 2), through the console's HTTP (Starlette's TestClient)
over mails decided by the real pipeline: the choices grouped as the form is, a remark, the
exact mail previewed (nothing queued), sent only with the fingerprint of what was shown, the
mail in words (no codes), 「添付が申込書ではない」 saying so, and where the 差戻 stands
afterwards for staff (送信待ち / 再送待ち / 送信済) without the admins' 送信箱."""

from __future__ import annotations

import datetime as dt
import email
from email import policy

from sqlalchemy import select

from bot import db
from bot.actions import outbox
from bot.actions.person_reject import DEFECT_CODES, GROUPS
from bot.db.models import AuditEntry, Mail, OutboxMessage
from tests.support.reject import fingerprint, preview_text, send_reject
from tests.test_end_to_end import bad_mail
from tests.test_web_manual_actions import BAD, held_config, hold, mail_id_of, web
from tests.test_web_support import token_of


def _setup(sqlite_url: str):  # noqa: ANN202 - (cfg, factory, mail id, staff client)
    cfg = held_config(sqlite_url)
    factory = hold(cfg, [bad_mail()])
    mail_id = mail_id_of(factory, BAD)
    return cfg, factory, mail_id, web(cfg)


def _replies(factory) -> list[OutboxMessage]:  # noqa: ANN001
    with factory() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "reply")))


def test_every_code_is_in_exactly_one_group() -> None:
    grouped = [code for _key, _label, codes in GROUPS for code in codes]
    assert sorted(grouped) == sorted(DEFECT_CODES) and len(grouped) == len(set(grouped))


def test_the_choices_are_grouped_found_first_and_the_rest_folded(sqlite_url: str) -> None:
    """Given an order held for its sender's authentication (a missing 担当者名 line; Bフレッツ
    without a type, which only the PDF shows), when staff open it, then what the checks find
    in the body is listed first and ticked (never a form finding made without the PDF), every
    other defect sits in a folded group (添付 / 申込書 / 本文・件名・CC / UNIS・管理台帳) with
    its Japanese name, the code only in a title."""
    _cfg, _f, mail_id, staff = _setup(sqlite_url)
    page = staff.get(f"/manual/{mail_id}").text
    found = page.split('class="defects found"')[1].split("</fieldset>")[0]
    assert 'name="defect_BODY_FIELD_MISSING" value="1" checked' in found and "担当者名" in found
    assert "defect_LINE_TYPE_MISSING" not in found and "defect_ATTACHMENT_MISSING" not in found
    form_group = page.split('id="group-form"')[1].split("</details>")[0]
    assert 'name="defect_LINE_TYPE_MISSING" value="1">' in form_group  # offered, not ticked
    for key, label, _codes in GROUPS:
        group = page.split(f'id="group-{key}"')[1].split("</details>")[0]
        assert label in group and not group.startswith(" open"), key  # folded
    attachment = page.split('id="group-attachment"')[1].split("</details>")[0]
    assert "添付が申込書ではない" in attachment and 'title="ATTACHMENT_NOT_FORM"' in attachment
    assert "添付されたPDFはUSEN SPOT申込書ではありません" in attachment
    assert "「不明」" not in page and "不明）" not in page.split('id="reject-form"')[1].split("</form>")[0]  # no placeholders


def test_the_sender_and_change_defects_are_offered_in_the_body_group(sqlite_url: str) -> None:
    """Given a held mail, when staff open it, then 「送信者に権限なし」 (a 法人一括発注依頼 from
    outside 法人営業 is held for a person) and 「変更内容なし」 (a 契約変更 saying nothing) are
    offered in the 本文・件名・CC group with their sentences; 「シリアル番号が不正」 is not offered
    (no request the bot takes carries a serial) but the template preview still explains it, as
    it explains every defect the office has a word for."""
    from bot.actions.reply_samples import SAMPLE
    from bot.domain import vocab

    _cfg, _f, mail_id, staff = _setup(sqlite_url)
    page = staff.get(f"/manual/{mail_id}").text
    body = page.split('id="group-body"')[1].split("</details>")[0]
    for code, words in (("SENDER_NOT_PERMITTED", "担当部署からのみ受け付けています"),
                        ("CHANGE_CONTENT_MISSING", "本文に変更内容がありません")):
        assert f'name="defect_{code}" value="1">' in body and f'title="{code}"' in body, code
        assert vocab.DEFECTS[code] in body and words in body, code
    assert "SERIAL_INVALID" not in page and vocab.DEFECTS["SERIAL_INVALID"] not in page
    assert {d.code for d in SAMPLE["defects_list"]} == set(vocab.DEFECTS)


def test_preview_shows_the_exact_mail_and_sends_nothing(sqlite_url: str) -> None:
    """Given the held order, when staff choose 「添付が申込書ではない」 and 「本文の項目不足」 (no
    detail recorded for it) with a remark and press 差戻メールを確認する, then the page shows the
    mail as it would leave (宛先, CC, 件名, body with the names in words and the remark), no
    code, no 「不明」; nothing is queued and the mail is still held. Then 送信 with the shown
    fingerprint queues exactly that body."""
    _cfg, factory, mail_id, staff = _setup(sqlite_url)
    form = {"csrf_token": token_of(staff, f"/manual/{mail_id}"), "defect_ATTACHMENT_NOT_FORM": "1",
            "defect_BODY_FIELD_MISSING": "1", "remark": "原本の2ページ目をご確認ください。\r\n至急お願いします。"}
    shown = staff.post(f"/manual/{mail_id}/reject", data=form)
    assert shown.status_code == 200
    body = preview_text(shown.text)
    assert "【添付が申込書ではない】添付されたPDFはUSEN SPOT申込書ではありません" in body
    assert "PDFファイルが添付されていません" not in body
    assert "【本文の項目不足】" in body and "■ 事務センターからの連絡\n原本の2ページ目をご確認ください。\n至急お願いします。" in body
    assert "ATTACHMENT_NOT_FORM" not in body and "BODY_FIELD_MISSING" not in body and "不明" not in body
    head = shown.text.split('class="mail-head"')[1].split("</dl>")[0]
    assert "uchida@aoyama.usen.co.jp" in head and "Re: USEN SPOT 器材発注依頼_988776655" in head
    assert _replies(factory) == []
    with factory() as s:
        row = s.get(Mail, mail_id)
        assert row is not None and row.resolved_at is None and row.decision == "manual"

    sent = staff.post(f"/manual/{mail_id}/reject", data={**form, "confirm": fingerprint(shown.text)})
    assert sent.status_code == 303
    [reply] = _replies(factory)
    msg = email.message_from_bytes(reply.raw, policy=policy.default)
    assert msg.get_body(preferencelist=("plain",)).get_content() == body  # type: ignore[union-attr]
    assert msg["X-USEN-SPOT-Defects"] == "ATTACHMENT_NOT_FORM BODY_FIELD_MISSING"
    with factory() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "manual_reject"))
        assert entry is not None and entry.detail["remark"].startswith("原本の2ページ目")


def test_a_send_that_differs_from_the_preview_or_chooses_nothing_is_refused(sqlite_url: str) -> None:
    """A fingerprint of another mail (the remark changed after the preview) → 409, nothing
    queued; no defect chosen → 422 with the reason, nothing queued."""
    _cfg, factory, mail_id, staff = _setup(sqlite_url)
    form = {"csrf_token": token_of(staff, f"/manual/{mail_id}"), "defect_LINE_TYPE_MISSING": "1", "remark": "A"}
    shown = staff.post(f"/manual/{mail_id}/reject", data=form)
    changed = staff.post(f"/manual/{mail_id}/reject", data={**form, "remark": "B", "confirm": fingerprint(shown.text)})
    assert changed.status_code == 409 and "もう一度確認してください" in changed.text
    none = staff.post(f"/manual/{mail_id}/reject", data={"csrf_token": form["csrf_token"]})
    assert none.status_code == 422 and "1つ以上選んでください" in none.text
    assert _replies(factory) == []


def test_staff_see_where_their_reject_stands(sqlite_url: str) -> None:
    """After 送信, staff (no 送信箱 for them: 403) read on the queue and on the mail that the
    reply is 送信待ち; when the server refused it once, 再送待ち with the next try; when sent,
    送信済 with the time."""
    _cfg, factory, mail_id, staff = _setup(sqlite_url)
    done = send_reject(staff, mail_id, {"csrf_token": token_of(staff, f"/manual/{mail_id}"),
                                        "defect_LINE_TYPE_MISSING": "1"})
    assert done.status_code == 303 and staff.get("/outbox").status_code == 403
    queue = staff.get(done.headers["location"]).text
    state = queue.split('id="reply-state"')[1].split("</p>")[0]
    assert "送信待ち" in state and f'/mails/{mail_id}#replies' in state
    assert "送信箱から送られます" not in queue
    recent = queue.split('id="recent-rejections"')[1].split("</section>")[0]
    assert "送信待ち" in recent and "香川" in recent
    [reply] = _replies(factory)
    with db.transaction(factory) as s:
        row = s.get(OutboxMessage, reply.id)
        assert row is not None
        row.attempts, row.next_attempt_at = 1, dt.datetime(2026, 11, 24, 2, 5, tzinfo=dt.UTC)
    detail = staff.get(f"/mails/{mail_id}").text.split('id="replies"')[1].split("</section>")[0]
    assert "再送待ち" in detail and "11:05" in detail and "1回失敗" in detail
    with db.transaction(factory) as s:
        row = s.get(OutboxMessage, reply.id)
        assert row is not None
        row.status, row.sent_at = outbox.SENT, dt.datetime(2026, 11, 24, 2, 6, tzinfo=dt.UTC)
    detail = staff.get(f"/mails/{mail_id}").text.split('id="replies"')[1].split("</section>")[0]
    assert "送信済" in detail and "11:06 に送信しました" in detail
