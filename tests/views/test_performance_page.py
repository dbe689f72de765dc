"""The Performance page (and the Signals overlay) render in a real AppTest with a model, and without one."""
from pathlib import Path

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "hrm-default" / "model.pt"

torch.set_num_threads(1)


def _app(offline_settings, models_dir: Path) -> AppTest:
    offline_settings(models_dir=models_dir)
    st.cache_data.clear()  # loaders are process-wide caches
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    return at


@pytest.fixture
def with_model(offline_settings):
    assert SHIPPED.exists(), "the shipped default model is part of the repository"
    return _app(offline_settings, SHIPPED.parent.parent)


def test_performance_page_renders_metrics_table_and_charts_for_the_model(with_model):
    at = with_model
    at.switch_page("views/performance.py")
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Performance"
    metrics = at.dataframe[0].value
    assert metrics.index[0] == "hrm-default" and {"buy & hold", "SMA 50/200", "momentum 12m"} <= set(metrics.index)
    assert {"Sharpe", "Sharpe CI 95% low", "Sharpe CI 95% high", "Annual return [%]", "DSR"} <= set(metrics.columns)
    assert len(at.get("plotly_chart")) >= 4  # equity/drawdown, monthly heatmap, rolling Sharpe, cost curve
    assert len(at.dataframe) >= 6  # metrics, regimes x2, costs, risk rules, trades
    assert any("test period of hrm-default" in c.value for c in at.caption)
    assert len(at.get("download_button")) == 2


def test_performance_page_can_inspect_a_baseline(with_model):
    at = with_model
    at.switch_page("views/performance.py")
    at.run()
    at.selectbox(key="performance.strategy").select("buy & hold").run()
    assert not at.exception and not at.error


def test_the_dsr_trial_count_does_not_depend_on_showing_the_ablations(with_model):
    at = with_model
    at.switch_page("views/performance.py")
    at.run()
    hidden = at.dataframe[0].value
    at.toggle(key="performance.ablations").set_value(True).run()
    shown = at.dataframe[0].value
    assert "hrm-n1t1" not in hidden.index and "hrm-n1t1" in shown.index
    # N is the trial registry's count for the test period (docs/trials.json), whatever the page shows
    from hrm_core.settings import load_settings
    from hrm_core.evaluation.trials import registry_path, trials_for

    registered = trials_for(registry_path(load_settings()), interval="1d", start="2016-01-01", end="2018-12-31").n
    assert hidden.loc["hrm-default", "Trials (N)"] == shown.loc["hrm-default", "Trials (N)"] == registered > 4


def test_risk_what_if_changes_the_rule_effects(with_model):
    at = with_model
    at.switch_page("views/performance.py")
    at.run()
    risk_table = next(df.value for df in at.dataframe if "variant" == df.value.index.name)
    assert not risk_table["active"]["vol target only"]  # off in the settings in force
    at.number_input(key="performance.vol").set_value(0.10).run()
    risk_table = next(df.value for df in at.dataframe if "variant" == df.value.index.name)
    assert risk_table["active"]["vol target only"] and not at.exception


def test_signals_page_overlays_the_models_decisions(with_model):
    at = with_model
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("decisions" in c.value for c in at.caption)
    recent = at.dataframe[0].value
    assert len(recent) == 20 and {"action", "position", "margin"} <= set(recent.columns)
    assert any("offline sample" in m.value for m in at.markdown)  # st.badge renders as markdown


def test_pages_without_a_model_show_a_clear_message(tmp_path, offline_settings):
    at = _app(offline_settings, tmp_path / "no_models")
    assert not at.exception and any("No trained model" in i.value for i in at.info)
    at.switch_page("views/performance.py")
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("No trained model" in i.value for i in at.info)
    assert at.dataframe[0].value.index[0] == "buy & hold"
