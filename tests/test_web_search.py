"""Search that finds (issue 21 point 4), through the in-process client over the demo's mails
decided by the real pipeline: the 受信一覧 keyword folds NFKC (full-width digits find the code,
half-width kana the shop), finds shop names and the body text; 支店 finds by part of its name;
管理台帳 finds a customer by its shop name."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tests.test_web_support import populate, signed_in, web_config


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, int]]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('search') / 'bot.sqlite3'}"
    ids = populate(url)
    yield signed_in(web_config(url)), ids


def listed(c: TestClient, **params: str) -> set[int]:
    """The mail ids 受信一覧 lists for these filters."""
    page = c.get("/mails", params=params)
    assert page.status_code == 200
    return {int(m) for m in re.findall(r'<a href="/mails/(\d+)"', page.text)}


def test_full_width_digits_find_the_customer_code(demo: tuple[TestClient, dict[str, int]]) -> None:
    """Given the demo's order for 145390992 (a scan from 福岡), when staff type the code in
    full-width digits as the keyword or in the code box, then that mail is listed."""
    c, ids = demo
    assert ids["10"] in listed(c, q="１４５３９０９９２")
    assert ids["10"] in listed(c, code="１４５３９０９９２")
    assert ids["10"] not in listed(c, q="１４５３９０９９９")


def test_a_shop_name_finds_its_mails_also_in_half_width_kana(demo: tuple[TestClient, dict[str, int]]) -> None:
    """Given the accepted order of カフェ AOYAMA (988776654), when staff search 「カフェ」 written
    in half-width kana, then its mails are listed (the shop name is in the ledger and UNIS)."""
    c, ids = demo
    assert ids["01"] in listed(c, q="ｶﾌｪ")
    assert ids["01"] in listed(c, q="カフェ aoyama")
    assert ids["08"] not in listed(c, q="ｶﾌｪ")  # the bounce names no shop


def test_the_body_text_is_searched(demo: tuple[TestClient, dict[str, int]]) -> None:
    """Given mails whose bodies carry 「送付支店名 : 青山支店」 and a corporate list mail, when
    staff search words that appear only in the body, then the mails holding them are listed."""
    c, ids = demo
    found = listed(c, q="送付支店名")
    assert ids["01"] in found and ids["08"] not in found
    assert ids["hostile"] in listed(c, q="お世話になっております")


def test_part_of_a_branch_name_finds_the_branch(demo: tuple[TestClient, dict[str, int]]) -> None:
    """Given the scan from 福岡支店, when staff filter 支店 by 「福岡」, then it is listed, and
    the mails of other branches are not."""
    c, ids = demo
    found = listed(c, branch="福岡")
    assert ids["10"] in found and ids["01"] not in found
    assert found == listed(c, branch="福岡支店")


def test_the_ledger_finds_a_shop_name(demo: tuple[TestClient, dict[str, int]]) -> None:
    """Given the ledger row of カフェ AOYAMA, when staff search the ledger for 「ｶﾌｪ」 or
    「AOYAMA」, then the customer is listed; a code's digits still search by code."""
    c, _ids = demo
    for words in ("ｶﾌｪ", "aoyama", "カフェ"):
        page = c.get("/ledger", params={"code": words})
        assert page.status_code == 200 and 'href="/ledger/988776654"' in page.text, words
        assert "読めません" not in page.text
    assert c.get("/ledger", params={"code": "９８８７"}).text.count('href="/ledger/988776654"') == 1
    assert 'href="/ledger/988776654"' not in c.get("/ledger", params={"code": "整骨院"}).text
