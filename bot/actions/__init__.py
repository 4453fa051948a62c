"""The act stage and a person's actions: the only code with side effects (the 差戻 reply and the
outbox that sends it, vendor rows and ledger moves per request kind, a person's 受付/差戻/対応済み
on a held mail, reprocessing a quarantined one, the held queue, the scan shadow figures)."""
