"""`bot run`: the watcher and the scheduled jobs (main), one pass over the folder (runner), the
probes shared with `bot check` (startup), heartbeats and `/healthz` (health), `/metrics`
(metrics), the log format (logs)."""
