"""Fixtures for tests against servers speaking TLS with a test CA (imported by the test modules
that use them): the CA, a server certificate for loopback, and the OAuth2 token endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.certs import Issued, TestCa
from tests.support.token_server import TokenServer

OAUTH_USER = "usen_spot@usen-spot.example.jp"


@pytest.fixture
def ca(tmp_path: Path) -> TestCa:
    return TestCa(tmp_path / "ca")


@pytest.fixture
def cert(ca: TestCa) -> Issued:
    return ca.issue("server", names=("localhost", "127.0.0.1"))


@pytest.fixture
def tokens(cert: Issued, ca: TestCa, monkeypatch: pytest.MonkeyPatch) -> Iterator[TokenServer]:
    # msal and google-auth talk HTTPS through requests, which trusts this bundle.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca_file))
    with TokenServer(cert=cert, user=OAUTH_USER) as server:
        yield server
