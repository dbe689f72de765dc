"""The Explain page renders in a real AppTest with the shipped model: summary, charts, report, period view, URL."""
from pathlib import Path

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"

torch.set_num_threads(1)


def _open(offline_settings, **params: str) -> AppTest:
    assert (MODELS / "hrm-default" / "model.pt").exists(), "the shipped default model is part of the repository"
    offline_settings(models_dir=MODELS)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("views/explain.py")
    at.run()
    assert at.sidebar.selectbox(key="sidebar.model").value.endswith("model.pt")  # the page ran through app.py
    return at


def test_the_explain_page_shows_the_summary_h_l_cycles_heatmap_and_report(offline_settings):
    at = _open(offline_settings, at="2017-06-01")
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Explain"
    summary = at.success[0].value
    action = next(m.value for m in at.metric if m.label == "Action")
    assert summary.startswith(f"{action.capitalize()} because ")  # the decision first, by the rule that made it
    assert "p_long - p_short" in summary  # the inputs for and against, then what would change it
    assert ("Pushing toward" in summary) if action == "flat" else (f"For the {action} book" in summary)
    assert "What would change it" in summary or "changes the decision" in summary
    assert {"Action", "Margin over the band", "H share of the move", "Completeness error"} <= {m.label
                                                                                              for m in at.metric}
    assert len(at.get("plotly_chart")) >= 3  # H/L bars, cycle trajectory, feature x time heatmap (+ seeds, where they ship)
    assert any("What would change the decision" == h.value for h in at.subheader)
    assert any("Similar situations in the training years" == h.value for h in at.subheader)
    assert at.query_params["at"] == "2017-06-01"
    assert at.date_input(key="explain.at").value.isoformat() == "2017-06-01"
    assert len(at.get("download_button")) == 1
    assert not at.dataframe[0].value.empty  # top features


def test_changing_the_target_and_showing_the_period_view(offline_settings):
    at = _open(offline_settings, at="2018-02-05")
    options = at.selectbox(key="explain.target").options  # only what decides is offered: edge, pre-band position
    assert len(options) == 2 and options[0].startswith("the edge") and options[1].startswith("the position before")
    charts = len(at.get("plotly_chart"))
    at.selectbox(key="explain.target").select("position").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.toggle(key="explain.period").set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == charts + 1  # + the h_share histogram
    claims = next(df.value for df in at.dataframe if "seed (claimed, unverified)" in df.value.columns)
    assert claims.loc["H-led share of decisions", "seed (claimed, unverified)"] == "34%"
    assert "[" in claims.loc["H-led share of decisions", "measured [95 % CI]"]  # with its interval
    at.radio(key="explain.by").set_value("regime").run()
    assert not at.exception


def test_the_flat_model_is_explained_without_a_module_split(offline_settings):
    at = _open(offline_settings, at="2017-06-01", model="flat")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("not applicable" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 1  # the heatmap only


def test_a_shared_link_sets_the_sidebar_instrument_and_keeps_it_in_the_url(offline_settings):
    at = _open(offline_settings, at="2017-06-01", symbol="^IXIC", interval="1d", model="hrm-default")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(c.value.startswith("^IXIC 1d, decision at the close of 2017-06-01") for c in at.caption)
    assert at.query_params["symbol"] == "^IXIC" and at.query_params["model"] == "hrm-default"
    assert at.success  # the ^IXIC decision is explained


def test_a_click_on_a_decision_marker_is_read_from_the_selection_event():
    import pandas as pd

    from ui.charts import clicked_decision, signal_chart

    idx = pd.date_range("2020-01-01", periods=5, freq="D", tz="UTC", name="time")
    bars = pd.DataFrame({"open": 1.0, "high": 1.1, "low": 0.9, "close": 1.0, "volume": 1.0}, index=idx)
    table = pd.DataFrame({"position": [0, 1, 1, 0, 0.0], "confidence": 0.5, "margin": 0.05}, index=idx)
    changes = pd.DataFrame({"action": ["long", "flat"]}, index=idx[[1, 3]])
    fig = signal_chart(bars, table, changes, "t")
    buy = next(i for i, t in enumerate(fig.data) if t.name == "buy (to long)")
    price = next(i for i, t in enumerate(fig.data) if t.name == "price")
    event = {"selection": {"points": [{"curve_number": price, "x": "2020-01-02"},
                                      {"curve_number": buy, "x": "2020-01-02"}]}}
    assert clicked_decision(fig, event) == idx[1]
    assert clicked_decision(fig, {"selection": {"points": [{"curve_number": price, "x": "2020-01-02"}]}}) is None
    assert clicked_decision(fig, None) is None


@pytest.mark.parametrize("params, words", [
    ({"model": "no-such-model"}, "The link's model 'no-such-model' is not in models/ on this server: showing"),
    ({"symbol": "MYIDX", "file": "0123456789abcdef/gone.csv"}, "The link's file gone.csv (MYIDX) is not on this server"),
    ({"symbol": "MYIDX", "file": "../../etc/passwd"}, "is not an uploaded file of this app"),
])
def test_a_link_that_cannot_be_followed_says_so(offline_settings, params, words):
    offline_settings(models_dir=MODELS)
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for k, v in {"at": "2017-06-01", **params}.items():
        at.query_params[k] = v
    at.run()  # the link's first request
    assert not at.exception, at.exception
    assert any(words in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.get("plotly_chart")  # the page still works, on the sidebar's selection, as the warning says
