"""The console's 差戻 in two steps, for the HTTP tests: post the chosen defects (the page
answers with the mail to be sent), then post again with the preview's fingerprint, as the
person's 「この内容で差戻メールを送信する」 does. (No tests here.)"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

CONFIRM = re.compile(r'name="confirm" value="([0-9a-f]+)"')


def fingerprint(page: str) -> str:
    found = CONFIRM.search(page)
    assert found, "the page shows no 差戻 preview to confirm"
    return found.group(1)


def preview_text(page: str) -> str:
    """The body of the previewed 差戻 mail, as the page shows it."""
    found = re.search(r'<pre class="body" id="reject-preview-body"[^>]*>(.*?)</pre>', page, re.S)
    assert found, "no preview on the page"
    return html.unescape(found.group(1))


def send_reject(client: Any, mail_id: int, form: Mapping[str, str]) -> Any:
    """Preview, then confirm exactly what was previewed; returns the confirming response
    (or the preview's when it was refused)."""
    shown = client.post(f"/manual/{mail_id}/reject", data=dict(form))
    if shown.status_code != 200:
        return shown
    return client.post(f"/manual/{mail_id}/reject", data={**form, "confirm": fingerprint(shown.text)})
