"""`bot demo`: the main job on an embedded mail server and SQLite (run), the servers (embedded),
what it prints (report), the sample mails (mails/)."""
