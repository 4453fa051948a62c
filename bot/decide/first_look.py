"""The first look at a mail, before any attachment is opened: what it is (the subject
classified) and whether it may be read at all (sender, loop, authentication, limits, and for a
法人一括発注依頼 the sender's role). Taken once per mail; the result travels in the facts
(:attr:`Facts.settled`, :attr:`Facts.classification`, :attr:`Facts.auth`), so no later step
classifies or screens again. Pure: the authentication verdict comes in (bot.pipeline.gather reads it).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.checks import authentication, roles, sender
from bot.checks.authentication import Verdict
from bot.checks.base import RuleSettings
from bot.decide.outcome import IGNORED, MANUAL, Decision
from bot.domain import classify
from bot.domain.classify import Classification
from bot.mail import InboundMail


@dataclass(frozen=True)
class FirstLook:
    classification: Classification
    auth: Verdict | None  # None: the authentication policy is off (or a person vouched)
    settled: Decision | None  # decided here: nothing of the mail is read

    @property
    def customer_code(self) -> str | None:
        return self.classification.customer_code


def first_look(mail: InboundMail, settings: RuleSettings, auth: Verdict | None, *,
               corporate_prefix: str | None) -> FirstLook:
    c = classify.classify_subject(mail.subject, corporate_prefix=corporate_prefix)
    settled = screen(mail, c, settings, auth)
    if settled is None and c.kind == classify.CORPORATE_ORDER:
        settled = corporate_gate(mail, c, settings)
    if settled is None:
        settled = role_gate(c, settings)
    return FirstLook(c, auth, settled)


def role_gate(c: Classification, settings: RuleSettings) -> Decision | None:
    """A kind only a role sends (bot/checks/roles.py) while none of its roles is configured:
    held for a person, since the bot could not tell the sender who must send it."""
    needed = roles.ROLES.get(c.kind or "", ())
    if not needed or any(settings.roles.get(role) for role in needed):
        return None
    keys = " / ".join(f"[senders] {role}" for role in needed)
    return Decision(c.kind, c.customer_code, MANUAL,
                    reason=f"{classify.LABELS[c.kind or '']}は{roles.who_may_send(c.kind)}からのみ受け付ける依頼です："
                    f"{keys} が未設定のため自動処理していません")


def screen(mail: InboundMail, c: Classification, settings: RuleSettings, auth: Verdict | None) -> Decision | None:
    """The decisions made before any attachment is opened: outsiders and machines cost nothing,
    and a mail over the limits is held. None: go on and read the mail."""
    # 1. Never answer a machine: bounces, auto-replies, lists.
    why = sender.machine_reason(mail)
    if why:
        return Decision(c.kind, c.customer_code, IGNORED, reason=why)
    # 2. Only the company's own staff may write.
    if not sender.domain_allowed(mail.from_addr, settings.allowed_domains):
        return Decision(c.kind, c.customer_code, IGNORED, reason=f"許可ドメイン外の送信者 {mail.from_addr or '(なし)'}")
    # 3. ...and the From domain must be proven by our MTA (DESIGN.md: held, never answered).
    if auth is not None and not auth.passed:
        if settings.authentication == authentication.IGNORE:
            return Decision(c.kind, c.customer_code, IGNORED, reason=auth.reason)
        return Decision(c.kind, c.customer_code, MANUAL, reason=f"{auth.reason}（返信していません）")
    # 4. A mail over the limits (bot/config/limits.py) is for a person, not for a 差戻.
    if mail.limit_exceeded:
        return Decision(c.kind, c.customer_code, MANUAL,
                        reason=f"メールが処理の上限を超えています（{mail.limit_exceeded}）：目視確認が必要です")
    return None


def corporate_gate(mail: InboundMail, c: Classification, settings: RuleSettings) -> Decision | None:
    """A 法人一括発注依頼 is 法人営業's alone ([corporate] senders): from anyone else it is held for
    a person, never acted on nor answered; and it needs 登録G's address to be acted on."""
    cs = settings.corporate
    if cs is None or not cs.is_corporate_sender(mail.from_addr):
        return Decision(c.kind, None, MANUAL, reason=f"法人一括発注依頼の送信者 {mail.from_addr or '(なし)'} は法人営業"
                        "（[corporate] senders）ではありません：自動処理していません（返信していません）")
    if not cs.registration_to:
        return Decision(c.kind, None, MANUAL, reason="法人一括発注依頼：登録Gの宛先（[corporate] registration_to）が"
                        "未設定のため自動処理していません")
    return None
