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
    # First paint: the equity chart, the metrics and one section (regimes); the others one click away.
    assert len(at.get("plotly_chart")) == 1 and at.radio(key="performance.section").value == "Regimes"
    assert "Bars" in at.dataframe[-2].value.columns  # the regime table, then the Sharpe per regime
    assert any("test period of hrm-default" in c.value for c in at.caption)
    assert len(at.get("download_button")) == 2
    at.radio(key="performance.section").set_value("Returns and costs").run()
    assert not at.exception and len(at.get("plotly_chart")) == 4  # + monthly heatmap, rolling Sharpe, cost curve
    at.radio(key="performance.section").set_value("Trades").run()
    trades = at.dataframe[-1].value
    assert not at.exception and {"entry_time", "exit_time", "side", "pnl_return"} <= set(trades.columns)


def test_performance_page_can_inspect_a_baseline(with_model):
    at = with_model
    at.switch_page("views/performance.py")
    at.run()
    at.radio(key="performance.section").set_value("Returns and costs").run()
    at.selectbox(key="performance.strategy").select("buy & hold").run()
    assert not at.exception and not at.error
    assert any("buy & hold" in str(c.proto.spec) for c in at.get("plotly_chart")[1:])


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
    at.radio(key="performance.section").set_value("Risk rules").run()
    risk_table = next(df.value for df in at.dataframe if "variant" == df.value.index.name)
    assert risk_table.index.tolist() == ["raw (no rules)"]  # every rule off in the settings in force: one row
    at.number_input(key="performance.vol").set_value(0.10).run()
    risk_table = next(df.value for df in at.dataframe if "variant" == df.value.index.name)
    assert risk_table.index.tolist() == ["raw (no rules)", "vol target only", "all rules"] and not at.exception
    assert risk_table["active"]["vol target only"]


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


def test_the_edge_power_panel_puts_the_ladder_beside_the_real_result(with_model, tmp_path, monkeypatch):
    """The panel reads the ladder's JSON (`benchmarks.edge_power --out`, here summarised from made-up job records:
    tests/experiments runs the real command); without one the page says nothing of it."""
    import json

    from hrm_core.experiments import edge_power

    def record(seed, lo):
        return {"job": {"shape": "regime", "sharpe": 4.0, "seed": seed},
                "learners": {n: {"sharpe": 1.0, "ci": [lo, 2.0]} for n in (*edge_power.LEARNERS,
                                                                           *edge_power.REFERENCES)}}

    out = tmp_path / "ladder.json"
    out.write_text(json.dumps({"command": "python -m benchmarks.edge_power --json", "protocol": {"years": 20,
                               "test_years": 3.0}, "shapes": edge_power.summarise([record(0, 0.1), record(1, 0.2)])}))
    monkeypatch.setattr(edge_power, "RESULTS", out)
    at = with_model
    at.switch_page("views/performance.py")
    at.run()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "the HRM detects, with 80% power, a persistent hidden regime of Sharpe" in text
    assert "Here, hrm-default on ^GSPC: net Sharpe" in text and "3 years" in text
    assert any("minimum detectable edge" in e.label for e in at.expander)
    monkeypatch.setattr(edge_power, "RESULTS", tmp_path / "missing.json")
    at.run()
    assert not at.exception and "Could the pipeline see an edge" not in " ".join(s.value for s in at.subheader)


def test_performance_compares_at_equal_risk_by_default_and_names_what_it_shows(with_model):
    at = with_model
    at.switch_page("views/performance.py")
    at.run()
    assert not at.exception, at.exception
    toggle = at.toggle(key="performance.equal_risk")
    assert toggle.value is True
    table = at.dataframe[0].value
    assert set(table["shown"]) == {"equal risk (10% vol)"}
    vols = table["Annual volatility [%]"]
    assert vols.between(5, 10.5).all(), vols  # everyone near the same risk (first bars flat, full-position cap)
    verdict = next(m.value for m in at.markdown if m.value.startswith("**hrm-default**"))
    assert "(equal risk (10% vol))" in verdict and "against buy & hold" in verdict and "DSR" in verdict
    assert any(w in verdict for w in ("better", "worse", "no clear difference"))
    toggle.set_value(False).run()
    table = at.dataframe[0].value
    assert set(table["shown"]) == {"as traded"} and table.loc["hrm-default", "Annual volatility [%]"] < 5
    at.radio(key="performance.section").set_value("Risk rules").run()
    risk = next(d.value for d in at.dataframe if d.value.index.name == "variant")
    assert risk.index.tolist() == ["raw (no rules)"]  # rules switched off repeat the raw row: not shown
