"""Shared test setup: no network, deterministic seeds, one torch thread (2-core CI machine)."""
import os
import socket

import pytest

os.environ.setdefault("HRM_OFFLINE_TESTS", "1")
# In-process AppTests share one process whose caches the tests clear: no background store warm-up there (a real
# server, as the browser tests start it, warms as in production).
os.environ.setdefault("HRM_WARM_UP", "0")


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


@pytest.fixture
def offline_settings(tmp_path, monkeypatch):
    """Point the app at a settings file in tmp_path (its own cache, optional models folder), offline.

    Call it as offline_settings(models_dir=...) -> path of the hrm.toml it wrote.
    """
    def write(models_dir=None):
        toml = tmp_path / "hrm.toml"
        lines = ["[data]", f'cache_db = "{tmp_path / "market.db"}"']
        if models_dir is not None:
            lines.append(f'models_dir = "{models_dir}"')
        toml.write_text("\n".join(lines) + "\n")
        monkeypatch.setenv("HRM_OFFLINE", "1")
        monkeypatch.setenv("HRM_SETTINGS", str(toml))
        return toml
    return write


@pytest.fixture
def app_in_fresh_interpreter():
    """Run `body` (Python, with `at` an AppTest of app.py not yet run) in a new interpreter, so `sys.modules` shows
    what the pages themselves import; the start-up thread, which imports torch on purpose, is switched off.
    Returns stdout's lines; fails the test with stderr's tail if the script fails."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    prelude = ("import sys\nimport ui.warmup as w\nfrom hrm_core.served.warm import WarmProgress\n"
               "w.start = lambda: (None, WarmProgress(finished=True))\nfrom streamlit.testing.v1 import AppTest\n"
               "at = AppTest.from_file(sys.argv[1], default_timeout=120)\n")

    def run(body: str) -> list[str]:
        done = subprocess.run([sys.executable, "-c", prelude + body, str(root / "app.py")], capture_output=True,
                              text=True, timeout=300, cwd=root, env=os.environ)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip().splitlines()
    return run
