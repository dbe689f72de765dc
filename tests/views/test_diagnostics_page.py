"""The Diagnostics page renders in a real AppTest with the shipped model: summary strip, charts, comparisons."""
from pathlib import Path

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "hrm-default" / "model.pt"

torch.set_num_threads(1)


def _open(offline_settings, at_param: str | None = None) -> AppTest:
    """The app on the Diagnostics page with the shipped models (optionally a decision in the URL)."""
    assert SHIPPED.exists(), "the shipped default model is part of the repository"
    offline_settings(models_dir=SHIPPED.parent.parent)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    if at_param:
        at.query_params["at"] = at_param
    at.switch_page("views/diagnostics.py")
    at.run()
    assert at.sidebar.selectbox(key="sidebar.model").value.endswith("model.pt")  # the page ran through app.py
    return at


@pytest.fixture
def page(offline_settings):
    return _open(offline_settings)


def test_the_diagnostics_page_shows_the_summary_strip_charts_and_every_model(page):
    at = page
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Diagnostics"
    labels = [m.label for m in at.metric]
    assert {"Convergence rate", "Mean depth", "Depth / volatility", "PR_H", "PR_L"} <= set(labels)
    assert sum("claimed, unverified" in c.value for c in at.caption) >= 3
    # decision residuals, trajectory, period bands, 2 convergence bars, depth histogram + scatter
    assert at.markdown[1].value.startswith("**Verdict.** Depth ")  # the page opens with its depth verdict in words
    assert "of 3 segments" in at.markdown[1].value and "log-loss" in at.markdown[1].value
    known = at.dataframe[0].value  # the known-answer benchmark, per stratum
    assert {"noise", "1", "6"} <= set(known["moves to compose"]) and known["mean depth"].between(1, 4).all()
    assert any("trained unrolled over the segments" in m.value and "Chosen: " in m.value for m in at.markdown)
    # One view at a time: the period's residual bands first; the depth histogram and depth/volatility scatter,
    # the convergence bars and one decision's residuals and trajectory one click away; every checkpoint on demand.
    assert at.radio(key="diagnostics.view").value == "Residuals"
    assert len(at.get("plotly_chart")) == 1 and len(at.dataframe) == 1
    at.radio(key="diagnostics.view").set_value("Depth").run()
    assert not at.exception and len(at.get("plotly_chart")) == 2
    assert any(m.label == "Same action as full depth" for m in at.metric)
    at.toggle(key="diagnostics.compare").set_value(True).run()
    assert not at.exception and len(at.get("plotly_chart")) == 4  # + 2 comparison charts
    assert sum(c.value.startswith("How to read this") for c in at.caption) >= 4
    at.radio(key="diagnostics.view").set_value("Convergence").run()
    assert not at.exception and len(at.get("plotly_chart")) == 4
    assert any("share of decisions meeting the criterion" in c.value for c in at.caption)
    at.radio(key="diagnostics.view").set_value("One decision").run()
    assert not at.exception and len(at.get("plotly_chart")) == 4
    assert any(c.value.startswith("Decision at ") for c in at.caption)
    compare = next(d.value for d in at.dataframe if "note" in d.value.columns)
    assert {"hrm-default", "hrm-n1t1", "hrm-noact", "flat"} <= set(compare.index)
    assert "not applicable" in compare.loc["flat", "note"]


def test_the_page_opens_the_decision_in_the_url_and_shows_full_depth_on_request(offline_settings):
    at = _open(offline_settings, "2017-03-15")
    assert not at.exception and not at.error
    assert at.radio(key="diagnostics.view").value == "One decision"  # a link to a decision opens on it
    assert any("Decision at 2017-03-15" in c.value for c in at.caption)
    at.radio(key="diagnostics.view").set_value("Residuals").run()
    at.toggle(key="diagnostics.full").set_value(True).run()
    assert not at.exception and not at.error and len(at.get("plotly_chart")) == 1


def test_the_flat_model_is_not_applicable_and_the_hrm_checkpoints_are_still_compared(offline_settings, tmp_path):
    import shutil

    models = tmp_path / "models"
    for name in ("flat", "hrm-n1t1"):  # no hrm-default: the sidebar's first model is then the flat one
        shutil.copytree(ROOT / "models" / name, models / name)
    offline_settings(models_dir=models)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("views/diagnostics.py")
    at.run()
    assert not at.exception and not at.error
    assert any("not applicable" in i.value for i in at.info)
    assert set(next(d.value for d in at.dataframe if "note" in d.value.columns).index) == {"flat", "hrm-n1t1"}
    assert len(at.get("plotly_chart")) == 2  # the comparison charts only
