"""A queue with owners and time (issue 21 point 3), through the console's HTTP: 対応中 (a person
takes a held mail, others see who and since when and cannot act on it, the owner or an admin
releases it, each audited), the queue filtered by the reason's group, oldest first; on a scan
a value read surely can be corrected (audited with before and after); and the 統合申込書's
missing cells (SSID, 台数) are never sent to the vendor as 申込書参照."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bot import db
from bot.db.models import AuditEntry, Mail, VendorRow
from bot.forms.vocabulary import SHAPE_SCANNED, FormReading
from bot.vendor.forms import refer_keys_of
from bot.web import users
from tests.support.app import DEFAULT_NOW, Clock
from tests.support.reject import send_reject
from tests.test_end_to_end import bad_mail
from tests.test_web_manual_actions import held_config, hold, mail_id_of, web
from tests.test_web_scan_review import held_scan, staff_client
from tests.test_web_support import ADMIN, STAFF, client, csrf_token, login, token_of

OTHER = ("sato", "sato-password-12345")


def _setup(sqlite_url: str):  # noqa: ANN202 - (cfg, factory, [older, newer] mail ids)
    cfg = held_config(sqlite_url)
    factory = hold(cfg, [bad_mail("<old@aoyama.usen.co.jp>"), bad_mail("<new@aoyama.usen.co.jp>")])
    ids = [mail_id_of(factory, "<old@aoyama.usen.co.jp>"), mail_id_of(factory, "<new@aoyama.usen.co.jp>")]
    with db.transaction(factory) as s:
        users.add_user(s, OTHER[0], OTHER[1], role="staff", display_name="佐藤", now=DEFAULT_NOW, by="test")
        old = s.get(Mail, ids[0])
        assert old is not None
        old.received_at = DEFAULT_NOW - dt.timedelta(hours=3)  # waited longer
    return cfg, factory, ids


def _as(cfg, who, minutes: int = 0):  # noqa: ANN001, ANN202
    c = client(cfg, Clock(DEFAULT_NOW + dt.timedelta(minutes=minutes)))
    assert login(c, who).status_code == 303  # type: ignore[attr-defined]
    return c


def _audit(factory) -> list[tuple[str, str, dict]]:  # noqa: ANN001
    with factory() as s:
        return [(a.action, a.username, a.detail) for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))
                if a.action.startswith(("manual_", "scan_"))]


def test_a_taken_mail_shows_its_owner_and_only_they_act_until_an_admin_releases_it(sqlite_url: str) -> None:
    """Given two held mails, when 香川 takes the older one, then the queue (oldest first) shows
    対応中 香川 and for how long; 佐藤 sees who and since when on the mail, and his 差戻 and
    対応済み are refused (409) naming 香川, as is his release; an admin releases it (audited
    with whose it was), and then 佐藤 can send it back."""
    cfg, factory, (old, new) = _setup(sqlite_url)
    kagawa = _as(cfg, STAFF)
    taken = kagawa.post(f"/manual/{old}/take", data={"csrf_token": token_of(kagawa, f"/manual/{old}")})
    assert taken.status_code == 303
    sato = _as(cfg, OTHER, minutes=15)
    queue = sato.get("/manual").text
    table = queue.split('class="list queue"')[1]
    assert table.index(f'href="/manual/{old}"') < table.index(f'href="/manual/{new}"')  # oldest first
    row = table.split(f'href="/manual/{old}"')[0].rsplit("<tr", 1)[1]
    assert "対応中" in row and "香川" in row and "15分前から" in row
    page = sato.get(f"/manual/{old}").text
    claim = page.split('id="claim"')[1].split("</div>")[0]
    assert "香川 さんが対応中です" in claim and "15分" in claim and 'id="release"' not in claim
    token = csrf_token(page)
    refused = send_reject(sato, old, {"csrf_token": token, "defect_LINE_TYPE_MISSING": "1"})
    assert refused.status_code == 409 and "香川 さんが対応中です" in refused.text
    assert sato.post(f"/manual/{old}/dismiss", data={"csrf_token": token, "note": "x"}).status_code == 409
    assert sato.post(f"/manual/{old}/release", data={"csrf_token": token}).status_code == 409
    admin = _as(cfg, ADMIN, minutes=20)
    admin_page = admin.get(f"/manual/{old}").text
    assert "対応中を解除する（管理者）" in admin_page
    assert admin.post(f"/manual/{old}/release", data={"csrf_token": csrf_token(admin_page), "back": "queue"}
                      ).status_code == 303
    with factory() as s:
        mail = s.get(Mail, old)
        assert mail is not None and mail.claimed_by is None and mail.resolved_at is None
    assert send_reject(sato, old, {"csrf_token": token, "defect_LINE_TYPE_MISSING": "1"}).status_code == 303
    actions = _audit(factory)
    assert actions[0] == ("manual_take", STAFF[0], {})
    assert actions[1] == ("manual_release", ADMIN[0], {"claimed_by": "香川"})
    assert actions[2][0:2] == ("manual_reject", OTHER[0])


def test_the_owner_acts_and_gives_back(sqlite_url: str) -> None:
    """The owner's own 差戻 goes through; taking twice keeps the first time (one audit row);
    the owner can give a mail back."""
    cfg, factory, (old, new) = _setup(sqlite_url)
    kagawa = _as(cfg, STAFF)
    token = token_of(kagawa, f"/manual/{new}")
    for _ in range(2):
        assert kagawa.post(f"/manual/{new}/take", data={"csrf_token": token}).status_code == 303
    assert kagawa.post(f"/manual/{new}/release", data={"csrf_token": token}).status_code == 303
    assert kagawa.post(f"/manual/{old}/take", data={"csrf_token": token}).status_code == 303
    assert send_reject(kagawa, old, {"csrf_token": token, "defect_LINE_TYPE_MISSING": "1"}).status_code == 303
    assert [a for a, _u, _d in _audit(factory)] == ["manual_take", "manual_release", "manual_take", "manual_reject"]


def test_the_queue_filters_by_the_reason(sqlite_url: str) -> None:
    """Given two mails held for their senders' authentication and a held scan, the filter
    lists each group with its count; 送信者の確認 shows the two (oldest first), スキャンの確認
    the scan only; an unknown group shows everything."""
    cfg, factory, (old, new) = _setup(sqlite_url)
    _cfg, scan_factory, scan_id, _truth = held_scan(sqlite_url, uid=50)  # its sender checks out: read
    scan_factory.kw["bind"].dispose()
    staff = web(cfg)
    everything = staff.get("/manual").text
    nav = " ".join(everything.split('class="filters reasons"')[1].split("</nav>")[0].split())
    assert "送信者の確認 <span class=\"count\">2</span>" in nav, nav
    assert "スキャンの確認 <span class=\"count\">1</span>" in nav, nav
    auth = staff.get("/manual?reason=auth").text.split('class="list queue"')[1]
    assert f'href="/manual/{old}"' in auth and f'href="/manual/{new}"' in auth and f'href="/manual/{scan_id}"' not in auth
    assert auth.index(f'href="/manual/{old}"') < auth.index(f'href="/manual/{new}"')
    scans = staff.get("/manual?reason=scan").text.split('class="list queue"')[1]
    assert f'href="/manual/{scan_id}"' in scans and f'href="/manual/{old}"' not in scans
    assert f'href="/manual/{scan_id}"' in staff.get("/manual?reason=nope").text


def test_a_sure_value_on_a_scan_can_be_corrected_and_the_change_is_audited(sqlite_url: str) -> None:
    """Given the held scan with its line kind read surely (Bフレッツ), when staff correct it to
    フレッツ光ネクスト and accept, then the vendor row carries the correction and an audit row
    names the field with before and after; a value left as read is not recorded as typed. The
    hold reason is the first thing of the scan's section."""
    cfg, factory, mail_id, _truth = held_scan(sqlite_url)
    staff = staff_client(cfg)
    page = staff.get(f"/manual/{mail_id}").text
    section = page.split('id="scan"')[1]
    assert section.index('id="hold-reason"') < section.index('id="scan-fields"')
    form = {"csrf_token": csrf_token(page), "read_line_kind": "Bフレッツ", "value_line_kind": "フレッツ光ネクスト",
            "read_plus": "無", "value_plus": "無"}
    assert staff.post(f"/manual/{mail_id}/accept", data=form).status_code == 303
    with factory() as s:
        [row] = s.scalars(select(VendorRow)).all()
        assert row.payload["line_kind"] == "フレッツ光ネクスト" and "plus" not in row.payload.get("typed", {})
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "scan_value_correct")).all()
        assert entry.detail == {"values": {"回線種別": "Bフレッツ → フレッツ光ネクスト"}} and entry.mail_id == mail_id


def test_the_integrated_form_never_asks_the_vendor_for_cells_it_does_not_have() -> None:
    """A scanned 統合申込書 read with nothing sure: SSID and 台数 are not 申込書参照 (it has no
    such cells); the dedicated form, read the same, asks for them."""
    def reading(kind: str) -> FormReading:
        return FormReading(shape=SHAPE_SCANNED, fields=None, defects=(), detail="", encrypted=True, pages=1, form=kind)

    integrated = refer_keys_of(reading("integrated"), [])
    dedicated = refer_keys_of(reading("dedicated"), [])
    assert {"ssid", "parent_units", "child_units"} <= set(dedicated)
    assert not {"ssid", "parent_units", "child_units"} & set(integrated)
    assert set(dedicated) - set(integrated) == {"ssid", "parent_units", "child_units"}
