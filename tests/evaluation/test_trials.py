"""The trial registry: one N per period, read by every deflated Sharpe ratio (page, CLI, report)."""
import json
import math
from pathlib import Path

import pytest
import torch

from hrm_core.evaluation.evaluate import Period, backtest_instrument, load_models, run_evaluation, trial_count
from hrm_core.settings import load_settings
from hrm_core.evaluation.trials import TrialRegistryError, load_registry, registry_path, trials_for

ROOT = Path(__file__).resolve().parents[2]
TEST_PERIOD = ("2016-01-01", "2018-12-31")  # the shipped checkpoints' test period

torch.set_num_threads(1)


def _entry(**kw):
    base = {"strategy": "m", "kind": "model", "configurations": 1, "instruments": ["A", "B"], "interval": "1d",
            "start": "2020-01-01", "end": "2020-12-31"}
    return {**base, **kw}


def test_an_entry_counts_each_configuration_on_each_instrument(tmp_path):
    path = tmp_path / "trials.json"
    path.write_text(json.dumps({"trials": [_entry(), _entry(strategy="seeds", configurations=5),
                                           _entry(strategy="other period", start="2019-01-01", end="2019-12-31")]}))
    count = trials_for(path, interval="1d", start="2020-01-01", end="2020-12-31")
    assert count.n == 2 + 10 and [e.strategy for e in count.entries] == ["m", "seeds"]
    assert trials_for(path, interval="1h", start="2020-01-01", end="2020-12-31").n == 0


def test_a_sub_period_or_an_overlapping_period_keeps_the_registered_n(tmp_path, offline_settings):
    path = tmp_path / "trials.json"
    path.write_text(json.dumps({"trials": [_entry(), _entry(strategy="seeds", configurations=5, instruments=["A"]),
                                           _entry(strategy="before", start="2018-01-01", end="2019-12-31")]}))
    full = trials_for(path, interval="1d", start="2020-01-01", end="2020-12-31")
    first_bar = trials_for(path, interval="1d", start="2020-01-02", end="2020-12-31")  # the first actual bar
    inside = trials_for(path, interval="1d", start="2020-03-01", end="2020-06-30")
    assert full.n == first_bar.n == inside.n == 2 + 5
    assert first_bar.instruments == ("A", "B")
    straddling = trials_for(path, interval="1d", start="2019-06-01", end="2020-02-01")
    assert straddling.n == 2 + 5 + 2
    assert trials_for(path, interval="1d", start="2021-01-01", end=None).n == 0
    assert trials_for(path, interval="1d", start=None, end=None).n == 2 + 5 + 2
    # the committed registry: the first actual bar of the test period keeps N through trial_count
    offline_settings()
    s = load_settings()
    registered = trials_for(registry_path(s), interval="1d", start=TEST_PERIOD[0], end=TEST_PERIOD[1]).n
    n, source = trial_count(s, Period("2016-01-04", "2018-12-31", "custom"), "1d", evaluated=2)
    assert registered > 2 and n == registered and "trial registry" in source


def test_a_bad_registry_names_the_entry_and_the_fix(tmp_path):
    path = tmp_path / "trials.json"
    path.write_text(json.dumps({"trials": [{"strategy": "m"}]}))
    with pytest.raises(TrialRegistryError, match="trial #1 misses"):
        load_registry(path)
    path.write_text(json.dumps({"trials": [_entry(configurations=0)]}))
    with pytest.raises(TrialRegistryError, match="configurations >= 1"):
        load_registry(path)


def test_the_committed_registry_covers_every_shipped_checkpoint_on_its_test_period():
    s = load_settings()
    count = trials_for(registry_path(s), interval="1d", start=TEST_PERIOD[0], end=TEST_PERIOD[1])
    shipped = {p.name for p in (ROOT / "models").iterdir() if (p / "model.pt").exists()}
    assert shipped <= {e.strategy for e in count.entries}
    assert count.n >= 2 * len(shipped)


def test_an_unregistered_period_counts_what_was_evaluated_and_says_so(offline_settings):
    offline_settings()
    n, source = trial_count(load_settings(), Period("1990-01-01", "1990-12-31", "custom"), "1d", evaluated=3)
    assert n == 3 and "not in the trial registry" in source


@pytest.mark.slow
def test_page_cli_and_report_give_the_same_dsr_for_the_same_period(offline_settings):
    offline_settings(models_dir=ROOT / "models")
    s = load_settings()
    from ui.loaders import _performance  # the Performance page's loader (cached function, called directly)

    primary = load_models(s, ["hrm-default"])[0]
    cli_inst = backtest_instrument(settings=s, symbol="^GSPC", interval="1d", n_boot=50)
    cli = cli_inst.run("hrm-default").metrics
    report_ev = run_evaluation(settings=s, models=load_models(s), symbols=["^GSPC", "^IXIC"], n_boot=50)
    report_inst = report_ev.instruments[0]
    report = report_inst.run("hrm-default").metrics
    page_inst = _performance.__wrapped__("^GSPC", "1d", str(primary.path), 0.0, None, None, False, s)
    page = page_inst.run("hrm-default").metrics
    registered = trials_for(registry_path(s), interval="1d", start=TEST_PERIOD[0], end=TEST_PERIOD[1]).n
    assert report_ev.n_trials == registered
    assert cli["Trials (N)"] == report["Trials (N)"] == page["Trials (N)"] == registered
    assert math.isfinite(cli["DSR"]) and cli["DSR"] == pytest.approx(report["DSR"], abs=1e-12)
    assert page["DSR"] == pytest.approx(report["DSR"], abs=1e-12)
    # the same trial strategies ran everywhere (the page hides its ablations, the CLI shows one model)
    shipped = {p.name for p in (ROOT / "models").iterdir() if (p / "model.pt").exists()}
    assert set(report_inst.trial_sharpes) == shipped | {"logistic regression"}
    assert cli_inst.trial_sharpes == pytest.approx(report_inst.trial_sharpes, nan_ok=True)
    assert page_inst.trial_sharpes == pytest.approx(report_inst.trial_sharpes, nan_ok=True)
    assert cli_inst.dsr_variance["trials"] == page_inst.dsr_variance["trials"] == report_inst.dsr_variance["trials"]
    assert cli_inst.dsr_variance["V"] == pytest.approx(report_inst.dsr_variance["V"])
    assert report_inst.dsr_variance["V"] > 0
    assert [r.name for r in page_inst.runs if r.kind != "rule baseline"] == ["hrm-default", "logistic regression"]


def test_synthetic_trials_are_registered_but_never_deflate_real_data(tmp_path):
    from hrm_core.evaluation.trials import SYNTHETIC_KIND, register

    path = tmp_path / "trials.json"
    path.write_text(json.dumps({"about": "kept", "trials": [_entry()]}))
    register(path, [_entry(strategy="edge-power hrm", kind=SYNTHETIC_KIND, instruments=["SYN-1", "SYN-2"])])
    assert len(load_registry(path)) == 2 and json.loads(path.read_text())["about"] == "kept"
    assert trials_for(path, interval="1d", start="2020-01-01", end="2020-12-31").n == 2  # the real entry only
    # a rerun replaces its own entry instead of adding another
    register(path, [_entry(strategy="edge-power hrm", kind=SYNTHETIC_KIND, instruments=["SYN-1"])])
    assert [e.instruments for e in load_registry(path) if e.kind == SYNTHETIC_KIND] == [("SYN-1",)]
    with pytest.raises(TrialRegistryError, match="misses"):
        register(path, [{"strategy": "broken"}])
    assert len(load_registry(path)) == 2  # a refused entry leaves the file as it was
