"""The Performance page (and the Signals overlay) render in a real AppTest with a model, and without one."""
from pathlib import Path

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "hrm-default" / "model.pt"

torch.set_num_threads(1)


def _tiny_models_dir(tmp_path: Path, monkeypatch) -> Path:
    """A tiny untrained checkpoint saved like a shipped one (used until models/hrm-default exists)."""
    from hrm_core.checkpoint import save_checkpoint
    from hrm_core.config import get_preset
    from hrm_core.data import load_bars
    from hrm_core.features import FEATURE_NAMES, FeatureSpec, Scaler, compute_features
    from hrm_core.model import build_model
    from hrm_core.settings import Settings

    bars = load_bars("^GSPC", "1d", settings=Settings()).bars
    torch.manual_seed(0)
    cfg = get_preset("tiny", n_features=len(FEATURE_NAMES))
    save_checkpoint(tmp_path / "models" / "hrm-default", build_model(cfg), feature_spec=FeatureSpec(window=cfg.window),
                    scaler=Scaler.fit(compute_features(bars.loc[:"2012"])), instruments={"^GSPC": 1},
                    intervals=["1d"], periods={"train": ["1999-01-01", "2012-12-31"],
                                               "validation": ["2013-01-01", "2015-12-31"],
                                               "test": ["2016-01-01", "2018-12-31"]},
                    metrics={}, data_hash="sample", name="hrm-default")
    return tmp_path / "models"


def _app(tmp_path, monkeypatch, models_dir: Path) -> AppTest:
    monkeypatch.setenv("HRM_OFFLINE", "1")
    toml = tmp_path / "hrm.toml"
    toml.write_text(f'[data]\ncache_db = "{tmp_path / "market.db"}"\nmodels_dir = "{models_dir}"\n')
    monkeypatch.setenv("HRM_SETTINGS", str(toml))
    st.cache_data.clear()  # the sidebar's settings and loaders are process-wide caches
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    return at


@pytest.fixture
def with_model(tmp_path, monkeypatch):
    models = SHIPPED.parent.parent if SHIPPED.exists() else _tiny_models_dir(tmp_path, monkeypatch)
    return _app(tmp_path, monkeypatch, models)


def test_performance_page_renders_metrics_table_and_charts_for_the_model(with_model):
    at = with_model
    at.switch_page("pages/performance.py")
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
    at.switch_page("pages/performance.py")
    at.run()
    at.selectbox(key="performance.strategy").select("buy & hold").run()
    assert not at.exception and not at.error


def test_signals_page_overlays_the_models_decisions(with_model):
    at = with_model
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("decisions" in c.value for c in at.caption)
    recent = at.dataframe[0].value
    assert len(recent) == 20 and {"action", "position", "confidence"} <= set(recent.columns)
    assert any("offline sample" in m.value for m in at.markdown)  # st.badge renders as markdown


def test_pages_without_a_model_show_a_clear_message(tmp_path, monkeypatch):
    at = _app(tmp_path, monkeypatch, tmp_path / "no_models")
    assert not at.exception and any("No trained model" in i.value for i in at.info)
    at.switch_page("pages/performance.py")
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("No trained model" in i.value for i in at.info)
    assert at.dataframe[0].value.index[0] == "buy & hold"
