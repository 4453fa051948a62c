"""Who the bot answers. A bot that answers a bounce or an auto-reply starts a mail loop, so
machine mail is recognised on every signal we know of and is `ignored`, never answered;
so is anyone outside the allowed domains."""

from __future__ import annotations

import re
import unicodedata

from bot.mail import InboundMail

# Local parts that are machines by convention (RFC 3834 §2, RFC 2142).
_MACHINE_LOCALS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|auto-?reply)([+-].*)?$", re.I)
_AUTO_SUBJECT = re.compile(
    r"自動応答|自動返信|自動送信|不在(通知|のお知らせ)|auto(matic)?[ -]?reply|out of (the )?office|"
    r"undeliver|delivery status notification|returned mail|mail delivery (failed|failure)|配信不能|"
    r"配送エラー|送信エラー",
    re.I,
)


def machine_reason(mail: InboundMail) -> str | None:
    """Why this mail was written by a machine, or None when a person wrote it."""
    h = mail.headers
    auto = (h.get("auto-submitted") or "").strip().lower()
    if auto and auto != "no":
        return f"自動送信メール（Auto-Submitted: {auto}）"
    if "return-path" in h and (h.get("return-path") or "").strip() in ("", "<>"):
        return "エラーメール（Return-Pathが空）"
    if mail.content_type == "multipart/report":
        return f"配信レポート（multipart/report {mail.report_type or ''}）"
    if (mail.report_type or "").lower() in ("delivery-status", "feedback-report", "disposition-notification"):
        return f"配信レポート（report-type {mail.report_type}）"
    precedence = (h.get("precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"一斉配信・自動送信（Precedence: {precedence}）"
    if h.get("x-auto-response-suppress"):
        return f"自動送信メール（X-Auto-Response-Suppress: {h['x-auto-response-suppress']}）"
    if h.get("x-autoreply") or h.get("x-autorespond"):
        return "自動応答メール（X-Autoreply）"
    if h.get("list-id") or h.get("list-unsubscribe"):
        return "メーリングリストのメール（List-Id）"
    local = (mail.from_addr or "").partition("@")[0]
    if _MACHINE_LOCALS.match(local):
        return f"システムからの送信（{mail.from_addr}）"
    if _AUTO_SUBJECT.search(unicodedata.normalize("NFKC", mail.subject)):
        return "自動応答・不在通知の件名"
    return None


def domain_allowed(address: str | None, allowed: tuple[str, ...]) -> bool:
    """`usen.co.jp` allows `usen.co.jp` and `aoyama.usen.co.jp`, never `usen.co.jp.evil.example`
    nor `evilusen.co.jp`."""
    if not address or "@" not in address:
        return False
    domain = address.rpartition("@")[2].strip().lower().rstrip(".")
    for item in allowed:
        item = item.strip().lower().lstrip("@").lstrip(".").rstrip(".")
        if item and (domain == item or domain.endswith("." + item)):
            return True
    return False


def listed(address: str | None, entries: tuple[str, ...]) -> bool:
    """An exact address of `entries`, or a domain of them (subdomains too): how the config names
    who may send what ([corporate] senders, [senders] support/techsupport/engineers)."""
    if not address:
        return False
    address = address.strip().lower()
    addresses = {e.strip().lower() for e in entries if "@" in e.strip().lstrip("@")}
    domains = tuple(e for e in entries if "@" not in e.strip().lstrip("@"))
    return address in addresses or domain_allowed(address, domains)
