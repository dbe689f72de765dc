"""Shared test setup: no network, deterministic seeds, one torch thread (2-core CI machine)."""
import os
import socket

import pytest

os.environ.setdefault("HRM_OFFLINE_TESTS", "1")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Any attempt to open a non-loopback connection fails the test loudly."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
