"""The Live and Model health pages render in AppTest: with a replayed ledger, and empty (offering the replay)."""
from pathlib import Path

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from hrm_core.live.ledger import ledger_db_path
from hrm_core.live.trader import replay
from hrm_core.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"

torch.set_num_threads(1)


def _app(page: str) -> AppTest:
    st.cache_data.clear()  # loaders are process-wide caches
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="sidebar.interval").value == "1d"  # the page ran through app.py
    return at


@pytest.fixture
def replayed(offline_settings):
    """A ledger filled by the real replay (two months of the test period) where the pages look for it."""
    offline_settings(models_dir=MODELS)
    s = load_settings()
    replay(s, symbol="^GSPC", interval="1d", start="2018-01-01", end="2018-02-28", db=ledger_db_path(s))
    return ledger_db_path(s)


def test_live_page_shows_equity_reconciliation_and_last_decisions(replayed):
    at = _app("views/live.py")
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Live"
    assert {m.label for m in at.metric} >= {"Signal agreement", "Bars (ledger / data)", "Equity live"}
    assert next(m for m in at.metric if m.label == "Signal agreement").value == "100.0%"
    assert len(at.get("plotly_chart")) == 1
    assert any("Every bar agrees" in s.value for s in at.success)
    decisions = next(d.value for d in at.dataframe if "source" in d.value.columns)
    assert len(decisions) == 20 and {"action", "target", "equity", "source"} <= set(decisions.columns)
    trades = next(d.value for d in at.dataframe if "regime at entry" in d.value.columns)
    matched = next(d.value for d in at.dataframe if d.value is not trades and "side" in str(list(d.value.columns)))
    assert len(trades) >= 1 and len(trades) == len(matched)  # the ledger's trades, as the reconciliation matches them
    assert {"Download the trades (CSV)", "Download the ledger (CSV)"} <= {b.label for b in at.get("download_button")}


def test_health_page_shows_status_latency_drift_and_alert_history(replayed):
    at = _app("views/health.py")
    assert not at.error or all(e.value.startswith("**RED**") for e in at.error), [e.value for e in at.error]
    status = [*at.success, *at.warning, *at.error]
    assert status and any(x in status[0].value for x in ("GREEN", "AMBER", "RED"))
    assert {"Decision p50", "Decision p95", "Decision p99"} <= {m.label for m in at.metric}
    tests = next(d.value for d in at.dataframe if d.value.index.name == "variable")
    assert len(tests) == 17 and {"value", "amber_at", "red_at", "p_value", "ks_d", "status"} <= set(tests.columns)
    checks = next(d.value for d in at.dataframe if d.value.index.name == "check")
    assert checks["threshold from"].str.len().min() > 0  # every check says where its threshold comes from
    assert len(at.get("plotly_chart")) >= 4  # verdict history, input tests, performance bands, outputs, latency


@pytest.mark.parametrize("page", ["views/live.py", "views/health.py"])
def test_an_empty_ledger_offers_the_documented_replay(offline_settings, page):
    offline_settings(models_dir=MODELS)
    at = _app(page)
    assert any("hrm live --replay 2014-01-01 2014-06-30 --symbol ^GSPC --interval 1d" in i.value for i in at.info)
    key = page.split("/")[1].removesuffix(".py")
    assert at.button(key=key + ".demo").label.startswith("Run the demo replay, in distribution")
    assert at.button(key=key + ".shifted").label.startswith("Run the shifted demo replay (volatility x3")
    assert not ledger_db_path(load_settings()).exists()  # looking does not create a ledger


def test_the_replay_button_fills_the_ledger_and_the_page_shows_it(offline_settings, monkeypatch):
    offline_settings(models_dir=MODELS)
    import hrm_core.live.trader as live

    calls = []
    real = live.replay

    def shorter(settings, **kw):  # the button's own call, on two months so the test stays quick
        calls.append(dict(kw))
        return real(settings, **{**kw, "end": "2014-02-28"})

    monkeypatch.setattr(live, "replay", shorter)
    at = _app("views/live.py")
    at.button(key="live.demo").click().run()
    assert not at.exception, at.exception
    assert calls and calls[0]["start"] == "2014-01-01" and calls[0]["symbol"] == "^GSPC"
    assert ledger_db_path(load_settings()).exists()
    assert any(m.label == "Signal agreement" for m in at.metric)
