"""One module per kind of page: login, mails (受信一覧 + メール詳細), manual (保留), audit (監査ログ)."""
