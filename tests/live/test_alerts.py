"""Alerts reach people: a real HTTP server on 127.0.0.1 records the webhook posts; a dead endpoint only warns."""
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hrm_cli import main as hrm
from hrm_core.live import alerts
from hrm_core.live.ledger import Ledger
from hrm_core.settings import AlertSettings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


class Hook:
    """A webhook endpoint that records each JSON body; `hold` makes it wait before answering."""

    def __init__(self):
        self.posts: list[dict] = []
        self.hold = threading.Event()
        self.hold.set()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.hold.wait(10)
                hook.posts.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def _dead_url() -> str:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/hook"


def _settings_file(tmp_path, monkeypatch, webhook: str, command: str = "", extra: str = "") -> None:
    toml = tmp_path / "hrm.toml"
    toml.write_text(f'[data]\ncache_db = "{tmp_path / "market.db"}"\nmodels_dir = "{ROOT / "models"}"\n{extra}'
                    f'[alerts]\nwebhook = "{webhook}"\ncommand = {json.dumps(command)}\ntimeout_s = 2.0\nretries = 1\n')
    monkeypatch.setenv("HRM_OFFLINE", "1")
    monkeypatch.setenv("HRM_SETTINGS", str(toml))


def _health(db, capsys) -> tuple[int, dict, str]:
    code = hrm(["health", "--db", str(db), "--json"])
    out = capsys.readouterr()
    return code, json.loads(out.out), out.err


def test_health_posts_once_per_verdict_change_to_a_real_webhook(hook, tmp_path, monkeypatch, capsys):
    _settings_file(tmp_path, monkeypatch, hook.url)
    db = tmp_path / "live.db"
    assert hrm(["live", "--once", "--symbol", "^GSPC", "--db", str(db)]) == 0  # sample data: red (fallback, stale)
    capsys.readouterr()
    code, report, err = _health(db, capsys)
    assert (code, report["status"]) == (2, "red") and len(hook.posts) == 1 and "warning" not in err
    post = hook.posts[0]
    assert post["text"] == post["content"] and post["text"].startswith("HRM health ^GSPC 1d")
    assert "RED" in post["text"] and post["event"]["status"] == "red" and post["event"]["previous"] is None
    _health(db, capsys)  # the same verdict again: nothing new to say
    assert len(hook.posts) == 1
    with Ledger(db) as ledger:  # the book had been green in between: red again is a change
        ledger.record_health("green", ["all checks within their thresholds"], ledger.find_book().book_id)
    _health(db, capsys)
    assert len(hook.posts) == 2 and hook.posts[1]["event"]["previous"] == "green"
    assert "(was green)" in hook.posts[1]["text"]


def test_a_dead_endpoint_adds_a_warning_and_keeps_the_exit_code(tmp_path, monkeypatch, capsys):
    out = tmp_path / "command-got.txt"
    command = f"{sys.executable} -c \"import sys, pathlib; pathlib.Path(r'{out}').write_text(sys.stdin.read())\""
    _settings_file(tmp_path, monkeypatch, _dead_url(), command)
    db = tmp_path / "live.db"
    assert hrm(["live", "--once", "--symbol", "^GSPC", "--db", str(db)]) == 0
    capsys.readouterr()
    code, report, err = _health(db, capsys)
    assert (code, report["status"]) == (2, "red")  # the verdict's exit code, whatever the alert did
    assert "warning: alert not delivered to the webhook at 127.0.0.1" in err and "after 2 attempt(s)" in err
    assert out.read_text().startswith("HRM health ^GSPC 1d") and ": RED." in out.read_text()  # the command got it


def test_sending_in_the_background_never_waits_for_a_slow_endpoint(hook):
    hook.hold.clear()  # the endpoint hangs until released
    settings = AlertSettings(webhook=hook.url, timeout_s=5.0, retries=0)
    thread = alerts.send_in_background(settings, "HRM paper fill", {"kind": "fill"})
    assert thread is not None and thread.is_alive() and hook.posts == []  # returned while the post is pending
    hook.hold.set()
    thread.join(10)
    assert [p["text"] for p in hook.posts] == ["HRM paper fill"]
    assert alerts.send_in_background(AlertSettings(), "nobody listens") is None  # no target set: nothing to do


def test_a_live_loop_fill_is_sent_as_it_happens(hook, tmp_path, monkeypatch, capsys):
    from hrm_core.live.trader import run_loop
    from hrm_core.settings import load_settings

    # market-on-close: the first decided bar trades at its own close, so one loop step makes a fill
    _settings_file(tmp_path, monkeypatch, hook.url, extra='[costs]\nexecution = "close"\n')
    lines = []
    run_loop(load_settings(), symbol="^GSPC", interval="1d", every_s=0.01, db=tmp_path / "live.db",
             max_iterations=1, report=lines.append)
    with Ledger(tmp_path / "live.db") as ledger:
        fills = ledger.conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
    for t in list(threading.enumerate()):
        if t.name == "hrm-alert":
            t.join(10)
    assert fills >= 1 and len(hook.posts) == fills and all(p["event"]["kind"] == "fill" for p in hook.posts)
    assert all(p["text"].startswith("HRM paper fill ^GSPC 1d") for p in hook.posts)


def test_alert_settings_refuse_what_cannot_work():
    with pytest.raises(SettingsError, match="http"):
        AlertSettings(webhook="hooks.slack.com/x")
    with pytest.raises(SettingsError, match="timeout_s"):
        AlertSettings(timeout_s=0)
    assert alerts.verdict_change(None, "green") is False and alerts.verdict_change(None, "amber") is True
    assert alerts.verdict_change("red", "red") is False and alerts.verdict_change("red", "green") is True
