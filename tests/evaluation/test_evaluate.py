"""Evaluation: analytics on hand examples, periods, an end-to-end report, and the backtest/evaluate CLI."""
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from hrm_core.trading.backtest import run_backtest
from hrm_core.model.checkpoint import save_checkpoint
from hrm_core.model.config import get_preset
from hrm_core.evaluation.evaluate import (
    Period, break_even_cost_bps, cost_sensitivity, evaluation_period, in_sample_overlap, load_models,
    monthly_returns, rolling_sharpe, run_evaluation,
)
from hrm_core.evaluation.report import CLAIMS_LABEL, write_report
from hrm_core.data.features import FEATURE_NAMES, FeatureSpec, Scaler, compute_features
from hrm_core.model.networks import build_model
from hrm_core.settings import load_settings

torch.set_num_threads(1)

PERIODS = {"train": ["2010-01-01", "2010-12-31"], "validation": ["2011-01-01", "2011-03-31"],
           "test": ["2011-04-01", "2011-12-31"]}


def make_bars(n: int = 700, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.002, n))
    idx = pd.bdate_range("2009-06-01", periods=n, tz="UTC", name="time")
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * 1.004, "low": np.minimum(open_, close) * 0.996,
                         "close": close, "volume": rng.uniform(1e6, 2e6, n)}, index=idx)


def series(values, freq="D") -> pd.Series:
    idx = pd.date_range("2020-01-01", periods=len(values), freq=freq, tz="UTC", name="time")
    return pd.Series(np.asarray(values, dtype=float), index=idx)


@pytest.fixture
def env(tmp_path, offline_settings):
    """Settings in tmp_path, a user CSV, and tiny checkpoints hrm-default + flat in tmp models/."""
    toml = offline_settings(models_dir=tmp_path / "models")
    (tmp_path / "trials.json").write_text('{"trials": []}\n')  # SYNTH's period is in no registry
    toml.write_text(toml.read_text() + f'trials_file = "{tmp_path / "trials.json"}"\n')
    bars = make_bars()
    csv = tmp_path / "SYNTH.csv"
    bars.reset_index().rename(columns={"time": "Date"}).to_csv(csv, index=False)
    scaler = Scaler.fit(compute_features(bars.loc[:"2010"]))
    for name, over in (("hrm-default", {}), ("flat", {"arch": "flat"})):
        torch.manual_seed(0)
        cfg = get_preset("tiny", n_features=len(FEATURE_NAMES), **over)
        save_checkpoint(tmp_path / "models" / name, build_model(cfg), feature_spec=FeatureSpec(window=cfg.window),
                        scaler=scaler, instruments={"SYNTH": 1}, intervals=["1d"], periods=PERIODS, metrics={},
                        data_hash="synthetic", name=name)
    return tmp_path, load_settings(toml), csv


# ----------------------------------------------------------------------------- analytics

def test_monthly_returns_compound_within_each_month():
    r = pd.Series([0.10, -0.10, 0.05], index=pd.DatetimeIndex(
        ["2020-01-02", "2020-01-03", "2020-02-03"], tz="UTC", name="time"))
    m = monthly_returns(r)
    assert m.loc[2020, 1] == pytest.approx(100 * (1.1 * 0.9 - 1))
    assert m.loc[2020, 2] == pytest.approx(5.0)
    assert math.isnan(m.loc[2020, 3])
    assert m.loc[2020, "Year"] == pytest.approx(100 * (1.1 * 0.9 * 1.05 - 1))


def test_rolling_sharpe_matches_the_formula_on_its_window():
    r = series([0.01, -0.02, 0.03, 0.0, 0.01])
    rs = rolling_sharpe(r, window=3, periods_per_year=252)
    assert rs.iloc[:2].isna().all()
    w = np.array([0.03, 0.0, 0.01])
    assert rs.iloc[-1] == pytest.approx(math.sqrt(252) * w.mean() / w.std(ddof=1))


def test_break_even_cost_of_one_long_trade():
    close = series([100.0, 101.0])
    bt = run_backtest(series([1.0, 1.0]), close, commission_bps=0.0, slippage_bps=0.0, execution="close")
    # wealth (1 - c)(1.01) = 1  ->  c = 1 - 1/1.01
    assert break_even_cost_bps(bt) == pytest.approx(1e4 * (1 - 1 / 1.01), rel=1e-6)
    losing = run_backtest(series([1.0, 1.0]), series([100.0, 99.0]), commission_bps=0.0, slippage_bps=0.0, execution="close")
    assert break_even_cost_bps(losing) == 0.0
    never = run_backtest(series([0.0, 0.0]), close, commission_bps=0.0, slippage_bps=0.0, execution="close")
    assert break_even_cost_bps(never) == math.inf


def test_cost_sensitivity_reproduces_the_backtest_at_its_own_cost():
    rng = np.random.default_rng(0)
    close = series(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 200))))
    target = series(np.sign(np.sin(np.arange(200) / 5.0)))
    bt = run_backtest(target, close, commission_bps=1.0, slippage_bps=2.0, execution="close")
    table = cost_sensitivity(run_backtest(target, close, commission_bps=0.0, slippage_bps=0.0, execution="close"),
                             costs_bps=[0.0, 3.0, 10.0], periods_per_year=252)
    from hrm_core.trading.metrics import cagr

    assert table.loc[3.0, "Annual return [%]"] == pytest.approx(100 * cagr(bt.net_returns, periods_per_year=252))
    assert table["Annual return [%]"].is_monotonic_decreasing


# ----------------------------------------------------------------------------- periods

def test_evaluation_period_prefers_dates_then_the_checkpoints_test_period():
    class M:
        name, periods = "m", PERIODS

    assert evaluation_period(M()) == Period("2011-04-01", "2011-12-31", "test period of m")
    assert evaluation_period(M(), start="2011-05-01").label == "custom"
    assert evaluation_period(None).label == "all bars"
    ts = pd.Timestamp
    assert in_sample_overlap(M(), ts("2010-06-01", tz="UTC"), ts("2011-12-31", tz="UTC"))
    assert not in_sample_overlap(M(), ts("2011-04-01", tz="UTC"), ts("2011-12-31", tz="UTC"))


# ----------------------------------------------------------------------------- end to end

def test_evaluation_end_to_end_writes_an_honest_report(env):
    tmp, settings, csv = env
    models = load_models(settings)
    assert [m.name for m in models] == ["hrm-default", "flat"]  # the shipped default is primary
    ev = run_evaluation(settings=settings, models=models, csv_paths=[str(csv)], n_boot=200)
    inst = ev.instruments[0]
    assert inst.symbol == "SYNTH" and inst.period.label == "test period of hrm-default"
    assert inst.first >= pd.Timestamp("2011-04-01", tz="UTC") and inst.last <= pd.Timestamp("2011-12-31", tz="UTC")
    assert [r.name for r in inst.runs] == ["hrm-default", "flat", "logistic regression", "buy & hold", "SMA 50/200",
                                           "momentum 12m", "vol-target B&H"]
    assert [r.kind for r in inst.runs][:3] == ["model", "model baseline", "model baseline"]
    # DSR trials: the period is not in the trial registry, so N = the three learned strategies evaluated here;
    # the rule baselines are references, not trials
    assert ev.n_trials == 3 and all(r.metrics["Trials (N)"] == 3 for r in inst.runs[:3])
    assert "not in the trial registry" in ev.trials_source
    assert all(math.isnan(r.metrics["DSR"]) for r in inst.runs[3:])
    # every strategy on the same bars, with the same costs
    for r in inst.runs:
        assert r.backtest.frame.index.equals(inst.runs[0].backtest.frame.index)
        assert (r.backtest.commission_bps, r.backtest.slippage_bps) == (1.0, 2.0)
    # signals were computed on the full history then sliced: the first test bar already has a decision
    main = inst.runs[0]
    assert main.signals.table.loc[inst.first, "status"] == "ok"
    assert main.target.equals(main.signals.position.loc[main.target.index])

    md, js = write_report(ev, tmp / "docs" / "results.md")
    text = md.read_text()
    for needle in (CLAIMS_LABEL, "2.34", "DSR", "N = 3", "1 bps commission + 2 bps slippage", "Regimes",
                   "filled at the open of bar t+1", "Skill against the constant class-frequency predictor",
                   "test period of hrm-default", "SYNTH", "Break-even"):
        assert needle in text, needle
    data = json.loads(js.read_text())  # strict JSON: NaN was written as null
    assert data["claims"]["label"] == CLAIMS_LABEL and data["claims"]["Sharpe"] == 2.34
    assert data["settings"]["costs"]["total_bps_per_unit_turnover"] == 3.0
    assert data["settings"]["DSR trials"]["N"] == 3
    assert data["settings"]["costs"]["execution"] == "next_open"
    strat = data["instruments"][0]["strategies"][0]
    assert {"Sharpe", "Sharpe CI 95% low", "Annual return CI 95% high [%]", "DSR"} <= set(strat["metrics"])
    assert data["headline"] and "Sharpe" in data["headline"][0]


def test_the_dsr_variance_is_that_of_the_trial_sharpes_with_a_stated_fallback(env):
    from dataclasses import replace

    from hrm_core.trading import metrics as m
    from hrm_core.evaluation.evaluate import deflate

    tmp, settings, csv = env
    ev = run_evaluation(settings=settings, models=load_models(settings), csv_paths=[str(csv)], n_boot=50)
    inst = ev.instruments[0]
    learned = inst.runs[:3]  # unregistered period: the trials are every model run evaluated here
    sharpes = [m.sharpe_per_period(r.net_returns) for r in learned]
    assert inst.trial_sharpes == pytest.approx(dict(zip([r.name for r in learned], sharpes)))
    assert inst.dsr_variance["V"] == pytest.approx(np.var(sharpes, ddof=1))
    assert "variance of the trials' per-period Sharpe ratios" in inst.dsr_variance["method"]
    for r in learned:
        assert r.metrics["DSR"] == pytest.approx(m.deflated_sharpe_ratio(r.net_returns, n_trials=3,
                                                                         trial_sharpes=sharpes))
    md, js = write_report(ev, tmp / "docs" / "results.md")
    assert "the variance of the per-period Sharpe ratios of the 3 trial strategies" in md.read_text()
    dsr = json.loads(js.read_text())["instruments"][0]["dsr_trials"]
    assert dsr["V"] == pytest.approx(np.var(sharpes, ddof=1)) and set(dsr["V_trials"]) == {r.name for r in learned}
    from hrm_core.evaluation.evaluate import _trial_sharpe

    assert _trial_sharpe(np.zeros(50)) == 0.0  # a trial that never held a position earned 0, and still counts
    # fewer than 2 trial Sharpes: the run's own squared Sharpe standard error, and said so
    one = replace(inst, trial_sharpes={"hrm-default": sharpes[0]}, dsr_variance={})
    deflate([one], n_trials=3)
    assert one.dsr_variance["V"] is None and "fallback" in one.dsr_variance["method"]
    assert one.runs[0].metrics["DSR"] == pytest.approx(m.deflated_sharpe_ratio(one.runs[0].net_returns, n_trials=3))


def test_the_logistic_regression_has_skill_against_the_constant_predictor_in_the_report(env):
    from hrm_core.evaluation.evaluate import LOGISTIC
    from hrm_core.training.logistic import fit_logistic
    from hrm_core.evaluation.report import skill_table
    from hrm_core.training.skill import period_skill

    tmp, settings, csv = env
    models = load_models(settings, ["hrm-default"])
    ev = run_evaluation(settings=settings, models=models, csv_paths=[str(csv)], n_boot=200)
    inst = ev.instruments[0]
    run = inst.run(LOGISTIC)
    assert run.skill and "unavailable" not in run.skill
    bars = make_bars()
    fit = fit_logistic(bars, interval="1d", loaded=models[0])
    expect = period_skill(models[0], bars, fit.proba(bars), interval="1d", start=inst.period.start,
                          end=inst.period.end, n_boot=200)
    assert run.skill["n"] == expect["n"] and run.skill["logloss"] == pytest.approx(expect["logloss"])
    assert run.skill["logloss_constant"] == pytest.approx(expect["logloss_constant"])
    assert LOGISTIC in skill_table(inst).index
    md, _ = write_report(ev, tmp / "docs" / "results.md")
    section = md.read_text().split("Skill against the constant class-frequency predictor", 1)[1]
    assert f"| {LOGISTIC} |" in section


def test_rules_only_evaluation_when_there_is_no_model(env):
    _, settings, csv = env
    ev = run_evaluation(settings=settings, models=[], csv_paths=[str(csv)], n_boot=50)
    assert ev.primary is None and ev.period.label == "all bars"
    assert [r.name for r in ev.instruments[0].runs] == ["buy & hold", "SMA 50/200", "momentum 12m", "vol-target B&H"]


def test_next_open_fills_at_a_missing_open_are_named_as_close_fills(env):
    """The sample's ^GSPC before 2006 has no real opens: buy & hold's one fill there is a close fill."""
    from hrm_core.data.market import load_bars
    from hrm_core.evaluation.evaluate import Period, evaluate_instrument

    _, settings, _ = env
    bars = load_bars("^GSPC", "1d", settings=settings).bars
    early = evaluate_instrument(bars, models=[], symbol="^GSPC", interval="1d", settings=settings, n_boot=0,
                                period=Period("2003-01-01", "2003-12-31", "custom"))
    assert any(n.startswith("buy & hold: 1 of 1 next-open fills fell on bars whose open the data lacks")
               for n in early.notes)
    late = evaluate_instrument(bars, models=[], symbol="^GSPC", interval="1d", settings=settings, n_boot=0,
                               period=Period("2017-01-01", "2017-12-31", "custom"))
    assert not any("open the data lacks" in n for n in late.notes)


def test_cli_backtest_json(env, capsys):
    import hrm_cli

    _, _, csv = env
    assert hrm_cli.main(["backtest", "--csv", str(csv), "--costs-bps", "5", "--n-boot", "100", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["period"]["label"] == "test period of hrm-default"
    names = [s["name"] for s in out["strategies"]]
    assert names[0] == "hrm-default" and "buy & hold" in names
    assert out["strategies"][0]["costs_bps"] == {"commission": 5.0, "slippage": 0.0}
    assert out["strategies"][0]["metrics"]["Periods"] == out["bars"]


def test_cli_backtest_outside_the_test_period_says_so(env, capsys):
    import hrm_cli

    _, _, csv = env
    assert hrm_cli.main(["backtest", "--csv", str(csv), "--start", "2010-01-01", "--end", "2010-12-31",
                         "--n-boot", "50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["period"]["label"] == "custom" and any("in-sample" in n for n in out["notes"])


def test_cli_evaluate_writes_markdown_and_json(env, capsys):
    import hrm_cli

    tmp, _, csv = env
    out_md = tmp / "out" / "results.md"
    assert hrm_cli.main(["evaluate", "--csv", str(csv), "--out", str(out_md), "--n-boot", "100", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["primary_model"] == "hrm-default" and out_md.exists() and (tmp / "out" / "results.json").exists()
    assert "hrm evaluate --csv" in out_md.read_text()


def test_every_model_whose_training_covers_the_period_is_flagged_in_sample(env):
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.evaluation.evaluate import evaluate_instrument

    tmp, settings, _ = env
    primary = load_checkpoint(tmp / "models" / "hrm-default")
    late = load_checkpoint(tmp / "models" / "flat")
    late = type(late)(**{**late.__dict__, "name": "late", "periods": {**PERIODS, "train": ["2010-01-01", "2011-12-31"]}})
    inst = evaluate_instrument(make_bars(), symbol="SYNTH", interval="1d", settings=settings,
                               models=[(primary, "model"), (late, "model baseline")], rules=False, n_boot=50)
    in_sample = [n for n in inst.notes if "in-sample" in n]
    assert len(in_sample) == 1 and "late" in in_sample[0]


# ----------------------------------------------------------------------------- execution setting

def test_one_execution_setting_decides_the_fills_of_every_evaluated_strategy(tmp_path, monkeypatch):
    from dataclasses import replace

    from hrm_core.evaluation.evaluate import Period, backtest_target
    from hrm_core.settings import Settings, SettingsError

    bars = make_bars()
    target = pd.Series(np.sign(np.sin(np.arange(len(bars)) / 5)), index=bars.index)
    period = Period("2010-01-01", "2010-12-31", "custom")
    runs = {}
    for execution in ("next_open", "close"):
        s = Settings()
        s = replace(s, costs=replace(s.costs, execution=execution))
        runs[execution] = backtest_target(target, bars, name="x", kind="model", symbol="S", interval="1d",
                                          period=period, settings=s, n_boot=0).backtest
    nxt, moc = runs["next_open"], runs["close"]
    inside = bars.loc["2010-01-01":"2010-12-31"]
    assert (nxt.execution, moc.execution) == ("next_open", "close")
    np.testing.assert_array_equal(nxt.frame["fill_price"], inside["open"])
    np.testing.assert_array_equal(moc.frame["fill_price"], inside["close"])
    assert not np.allclose(nxt.net_returns, moc.net_returns)
    toml = tmp_path / "hrm.toml"
    toml.write_text('[costs]\nexecution = "vwap"\n')
    monkeypatch.setenv("HRM_SETTINGS", str(toml))
    with pytest.raises(SettingsError, match="next_open"):
        load_settings()
