"""Your own data through the sidebar (AppTest over app.py): a good file becomes an instrument on every page;
a broken or oversized file gets one clear message and the rest of the app keeps working."""
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from hrm_core.data.market import load_bars
from ui.uploads import MAX_UPLOAD_MB

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"


def _app(offline_settings) -> AppTest:
    offline_settings(models_dir=MODELS)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    return at


def _upload(at: AppTest, filename: str, content: bytes, name: str = "") -> AppTest:
    at.file_uploader(key="sidebar.upload.file").upload(filename, content, "text/csv").run()
    if name:
        at.text_input(key="sidebar.upload.name").input(name).run()
    return at.button(key="sidebar.upload.add").click().run()


@pytest.fixture
def own_csv() -> bytes:
    """Three years of NASDAQ daily bars as a user's export: 'Date' column, semicolons, newest first."""
    bars = load_bars("^IXIC", "1d", "2016-01-01", "2018-12-31").bars
    frame = bars.reset_index().rename(columns={"time": "Date", "close": "Close"})
    frame["Date"] = frame["Date"].dt.strftime("%Y-%m-%d")
    return frame.iloc[::-1].to_csv(index=False, sep=";").encode()


def test_an_uploaded_file_becomes_the_charted_instrument_on_every_page(offline_settings, own_csv):
    at = _upload(_app(offline_settings), "my_export.csv", own_csv, name="MYIDX")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.sidebar.multiselect(key="sidebar.symbols").value[0] == "MYIDX"
    assert at.sidebar.selectbox(key="sidebar.interval").value == "1d"  # inferred from the file
    assert any("Added MYIDX: 754 1d bars, 2016-01-04 to 2018-12-31" in c.value for c in at.sidebar.caption)
    assert any("file: my_export.csv" in m.value for m in at.markdown)  # the data-source badge
    assert any("754 1d bars" in c.value and "your file (MYIDX)" in c.value for c in at.caption)
    # every selected instrument is shown, the file first: MYIDX, then the ^GSPC that was selected before
    assert [c.key for c in at.get("plotly_chart")] == ["signals.chart", "signals.^GSPC.chart"]
    assert len(at.dataframe[0].value) == 20
    for page, title in (("views/performance.py", "Performance"), ("views/explain.py", "Explain"),
                        ("views/diagnostics.py", "Diagnostics")):
        at.switch_page(page)
        at.run()
        assert not at.exception, (page, at.exception)
        assert not at.error, (page, [e.value for e in at.error])
        assert at.title[0].value == title
        assert at.sidebar.multiselect(key="sidebar.symbols").value[0] == "MYIDX"  # kept for the session
        if title != "Diagnostics":  # Performance and Explain name the instrument they computed on
            assert any(c.value.startswith("MYIDX 1d") for c in at.caption), [c.value for c in at.caption]


def test_an_uploaded_file_replays_through_the_live_code_on_the_live_page(offline_settings, own_csv, monkeypatch):
    import hrm_core.live.trader as live
    from hrm_core.live.ledger import Ledger, ledger_db_path
    from hrm_core.settings import load_settings

    real, calls = live.replay, []

    def shorter(settings, **kw):  # the page's own call, on two months so the test stays quick
        calls.append(dict(kw))
        return real(settings, **{**kw, "start": "2018-11-01"})

    monkeypatch.setattr(live, "replay", shorter)
    at = _upload(_app(offline_settings), "my_export.csv", own_csv, name="MYIDX")
    at.switch_page("views/live.py")
    at.run()
    at.button(key="live.mine").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert calls[0]["symbol"] == "MYIDX" and calls[0]["csv"].endswith("my_export.csv")
    with Ledger(ledger_db_path(load_settings()), create=False) as ledger:
        assert [b.symbol for b in ledger.books()] == ["MYIDX"]
    assert any(m.label == "Signal agreement" for m in at.metric)


def test_a_broken_file_gets_one_message_and_the_page_keeps_working(offline_settings):
    at = _upload(_app(offline_settings), "broken.csv", b"when;price\nyesterday;cheap\n")
    assert not at.exception
    messages = [w.value for w in at.sidebar.warning]
    assert len(messages) == 1 and messages[0].startswith("broken.csv was not added: broken.csv:"), messages
    assert not at.error  # the page itself is untouched
    assert at.sidebar.multiselect(key="sidebar.symbols").value == ["^GSPC"]
    assert at.title[0].value == "Signals" and len(at.get("plotly_chart")) == 1


def test_an_oversized_file_is_refused_with_the_limit_stated(offline_settings):
    content = b"time,open,high,low,close\n" + b"0" * (MAX_UPLOAD_MB * 1024 * 1024)
    at = _upload(_app(offline_settings), "huge.csv", content)
    assert not at.exception
    messages = [w.value for w in at.sidebar.warning]
    assert len(messages) == 1 and f"over the {MAX_UPLOAD_MB} MB limit" in messages[0], messages
    assert at.sidebar.multiselect(key="sidebar.symbols").value == ["^GSPC"]
    assert not list(Path(load_settings_cache()).glob("**/huge.csv"))  # never stored


def load_settings_cache() -> Path:
    from hrm_core.settings import load_settings

    return load_settings().data.path("cache_db").parent


def test_the_train_page_trains_on_an_uploaded_file_over_its_own_span(offline_settings, own_csv, tmp_path):
    import json

    offline_settings(models_dir=tmp_path / "models")
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    _upload(at, "my_export.csv", own_csv, name="MYIDX")
    at.switch_page("views/train.py")
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.multiselect(key="train.symbols").value == ["MYIDX", "^GSPC"]  # the file beside a sample symbol
    suffix = ".MYIDX|1d"  # the date pickers follow the chosen data: 70 / 15 / 15 % of the common 2016-01-04 ..
    assert str(at.date_input(key="train.train_start" + suffix).value) == "2016-01-04"
    assert str(at.date_input(key="train.test_end" + suffix).value) == "2018-12-31"
    at.selectbox(key="train.preset").set_value("tiny")
    at.number_input(key="train.epochs").set_value(1)
    at.text_input(key="train.name").set_value("mine")
    at.button(key="train.go").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    card = json.loads((tmp_path / "models" / "mine" / "model_card.json").read_text())
    assert {"MYIDX", "^GSPC"} <= set(card["instruments"]) and any("mine" in s.value for s in at.success)
