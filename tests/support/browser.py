"""The console in a real browser, shared by the browser tests: the console app served by
uvicorn on a free loopback port (in a thread), and Debian's Chromium driven by Playwright
(its Python package; no browser download: `executable_path` is /usr/bin/chromium)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium is not installed: run scripts/test.sh (it installs the test dependencies)")


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1:<free port> until the block ends; yields its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def sign_in(page: Any, base: str, user: tuple[str, str], target: str = "/manual") -> None:
    """Open `target`, sign in on the login page it leads to, and land back on `target`."""
    page.goto(f"{base}{target}")
    page.fill("input[name=username]", user[0])
    page.fill("input[name=password]", user[1])
    page.click("button.primary")
    page.wait_for_url(f"{base}{target}")
