"""Explain: attributions that add up, sanity on hand-built models, the decision infer made, report, CLI, cache."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from explain import explain_decision
from explain.core import decision_dataset
from explain.features import feature_attribution
from explain.modules import module_attribution
from explain.period import explain_period
from explain.report import SECTIONS, render_html
from hrm_core.model.checkpoint import load_checkpoint
from hrm_core.model.config import get_preset
from hrm_core.data.market import load_bars
from hrm_core.errors import DataError
from hrm_core.model.networks import build_model

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(MODELS / "hrm-default" / "model.pt")


@pytest.fixture(scope="module")
def gspc(tmp_path_factory):
    return load_bars("^GSPC", "1d").bars


def _tiny(seed: int = 0, **over) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(get_preset("tiny", n_features=15, **over)).eval()


def _inputs(model, batch: int = 4, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    cfg = model.config
    x = torch.randn(batch, cfg.window, cfg.n_features, generator=g)
    return x, torch.ones(batch, dtype=torch.long), torch.ones(batch, dtype=torch.long)


def _test_times(loaded, bars: pd.DataFrame, n: int) -> list[pd.Timestamp]:
    test = loaded.periods["test"]
    inside = bars.loc[test[0]:test[1]].index
    return [inside[i] for i in np.linspace(0, len(inside) - 1, n).astype(int)]


# ----------------------------------------------------------------------------- the decision infer made

def test_attribution_forward_with_infers_segment_count_reproduces_infer():
    model = _tiny(max_segments=3)
    x, iid, tid = _inputs(model, batch=16)
    with torch.no_grad():  # a Q head that halts about half the samples after one segment
        model.heads.q.proj.weight.normal_(0, 3.0)
        first, _ = model(x, iid, tid)
        model.heads.q.proj.bias[0] -= (first.q_halt - first.q_continue).median()
    out = model.infer(x, iid, tid)
    assert len(set(out.steps.tolist())) > 1, "the test needs decisions of different depths"
    for i in range(len(x)):
        k = int(out.steps[i])
        rep = model.attribution_forward(x[i:i + 1], iid[i:i + 1], tid[i:i + 1], segments=k)
        torch.testing.assert_close(rep.policy_logits.detach(), out.policy_logits[i:i + 1], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(rep.quantity.detach(), out.quantity[i:i + 1], rtol=1e-5, atol=1e-5)


def test_explanation_reports_the_decision_of_the_signal_table(shipped, gspc):
    from hrm_core.trading.signals import generate_signals

    table = generate_signals(shipped, gspc, symbol="^GSPC", interval="1d").table
    for t in _test_times(shipped, gspc, 3):
        ex = explain_decision(shipped, gspc, t, symbol="^GSPC", interval="1d", n_steps=8)
        row = table.loc[t]
        assert ex.time == t and ex.decision["action"] == row["action"] and ex.decision["steps"] == row["steps"]
        assert ex.decision["position"] == pytest.approx(row["position"], abs=1e-5)
        assert ex.decision["reproduction_error"] < 1e-5


def test_the_explanation_says_where_full_depth_would_decide_otherwise(shipped, gspc):
    from explain.words import depth_note
    from hrm_core.trading.signals import full_depth_actions

    times = _test_times(shipped, gspc, 3)
    full = full_depth_actions(shipped, gspc, pd.DatetimeIndex(times), symbol="^GSPC", interval="1d")
    for t in times:
        d = explain_decision(shipped, gspc, t, symbol="^GSPC", interval="1d", n_steps=8, extras=False).decision
        assert d["full_depth"]["segments"] == shipped.config.max_segments
        assert full is None or d["full_depth"]["action"] == full.loc[t]  # the Signals table's column agrees
        note = depth_note(d)
        assert (note == "") == (d["full_depth"]["action"] == d["action"])
    d = {"action": "long", "full_depth": {"action": "flat", "segments": 3, "as_run_segments": 1, "mode": "adaptive"}}
    assert depth_note(d) == "long as run (1 of 3 segments), flat at full depth"


def test_every_tap_fires_once_per_attribution_forward():
    model = _tiny(max_segments=3)
    calls: dict[str, int] = {}
    taps = {"embedding": model.taps.embedding, "h_prev": model.taps.h_prev, "l_final": model.taps.l_final,
            **{f"h_cycle{i}": t for i, t in enumerate(model.taps.h_cycle)}}
    for name, tap in taps.items():
        tap.register_forward_hook(lambda _m, _i, _o, name=name: calls.__setitem__(name, calls.get(name, 0) + 1))
    x, iid, tid = _inputs(model)
    N = model.config.h_cycles
    for k in (1, 3):
        calls.clear()
        model.attribution_forward(x, iid, tid, segments=k)
        expected = {"embedding": 1, "h_prev": 1, "l_final": 1, **{f"h_cycle{i}": 1 for i in range(k * N)}}
        assert calls == expected
    calls.clear()
    model.infer(x, iid, tid)
    assert calls == {}  # taps never run outside attribution


# ----------------------------------------------------------------------------- completeness on the shipped model

def test_completeness_within_one_percent_on_20_test_period_decisions(shipped, gspc):
    ds = decision_dataset(shipped, gspc, symbol="^GSPC", interval="1d")
    deltas = []
    for t in _test_times(shipped, gspc, 20):
        ex = explain_decision(shipped, gspc, t, symbol="^GSPC", interval="1d", dataset=ds)
        assert ex.module.completeness_delta is not None and ex.features["completeness_delta"] is not None
        deltas.append((ex.module.completeness_delta, ex.features["completeness_delta"]))
        assert ex.module.h + ex.module.l == pytest.approx(ex.module.f_input - ex.module.f_baseline, rel=0.01)
    assert np.abs(np.array(deltas)).max() <= 0.01


# ----------------------------------------------------------------------------- sanity on hand-built models

class _CutH(nn.Module):
    """Wraps the H module: drop its own state ("z") or, in the final update only, the L injection."""

    def __init__(self, inner: nn.Module, drop: str):
        super().__init__()
        self.inner, self.drop, self.final = inner, drop, False

    def forward(self, z, injection, cos, sin):
        if self.drop == "z":
            z = 0.0 * z  # cut, but still in the graph (Captum differentiates through it)
        elif self.final:
            injection = 0.0 * injection
        return self.inner(z, injection, cos, sin)


def _cut_model(drop: str) -> nn.Module:
    model = _tiny(seed=3)
    cut = _CutH(model.H_level, drop)
    model.H_level = cut
    # taps.l_final runs just before the final H update; taps.embedding at the start of every decision
    model.taps.l_final.register_forward_hook(lambda *_: setattr(cut, "final", True))
    model.taps.embedding.register_forward_hook(lambda *_: setattr(cut, "final", False))
    return model


@pytest.mark.parametrize("drop, expect", [("z", "l"), ("injection", "h")])
def test_a_decision_that_depends_on_one_module_gets_that_modules_share(drop, expect):
    model = _cut_model(drop)
    x, iid, tid = _inputs(model, batch=1, seed=5)
    ma = module_attribution(model, x, iid, tid, torch.tensor([2]), segments=2, target="action_logit",
                            baseline_x=torch.zeros_like(x), n_steps=32)
    share = ma.l_share if expect == "l" else ma.h_share
    assert 0.95 <= share <= 1.05, ma  # signed share of the move: the whole of it
    assert ma.lead == ("L-led" if expect == "l" else "H-led")
    assert abs(ma.f_input - ma.f_baseline) > 1e-4  # there is something to split


def test_a_model_that_ignores_feature_k_gives_it_no_attribution():
    model = _tiny(seed=4)
    k, F, P = 3, model.config.n_features, model.config.patch_size
    with torch.no_grad():
        model.embed.input.proj.weight[:, [p * F + k for p in range(P)]] = 0.0
    x, iid, tid = _inputs(model, batch=1, seed=6)
    times = pd.date_range("2020-01-01", periods=model.config.window, freq="D", tz="UTC")
    fa = feature_attribution(model, x, iid, tid, torch.tensor([1]), segments=2, target="action_logit",
                             baselines={"zeros": np.zeros(x.shape[1:], np.float32)}, primary="zeros", n_steps=32,
                             names=[f"f{j}" for j in range(F)], times=times)
    grid = fa["attributions"].to_numpy()
    assert np.abs(grid[:, k]).max() <= 1e-7
    assert np.abs(np.delete(grid, k, axis=1)).max() > 1e-4
    assert abs(fa["completeness_delta"]) <= 0.01


def test_the_flat_model_gets_feature_attribution_and_no_module_split(gspc):
    flat = load_checkpoint(MODELS / "flat" / "model.pt")
    ex = explain_decision(flat, gspc, "2017-06-01", symbol="^GSPC", interval="1d")
    assert not ex.module.applicable and "not applicable" in ex.module.note
    assert not ex.cycles["applicable"] and ex.cycles["steps"] == []
    assert abs(ex.features["completeness_delta"]) <= 0.01 and ex.features["top_features"]
    assert "no hierarchical modules" in ex.summary
    with pytest.raises(Exception, match="flat"):
        explain_period(flat, gspc, symbol="^GSPC", interval="1d", store=None)


# ----------------------------------------------------------------------------- cycles, baselines, summary

def test_the_last_probe_reading_is_the_decision_and_the_last_cycle_carries_all_of_it(shipped, gspc):
    ex = explain_decision(shipped, gspc, "2017-06-01", symbol="^GSPC", interval="1d")
    steps = ex.cycles["steps"]
    assert len(steps) == ex.decision["steps"] * shipped.config.h_cycles
    assert steps[-1]["p_long"] == pytest.approx(ex.decision["p_long"], abs=1e-5)
    assert steps[-1]["attribution"] == pytest.approx(ex.module.f_input - ex.module.f_baseline, rel=0.01)
    assert all(abs(s["attribution_completeness_delta"] or 0) <= 0.01 for s in steps)
    assert "probe" in ex.cycles["label"]


def test_both_baselines_are_compared_and_the_ranking_change_reported(shipped, gspc):
    ex = explain_decision(shipped, gspc, "2017-06-01", symbol="^GSPC", interval="1d", baseline="history")
    assert ex.baseline == "history" and ex.features["compared_with"] == "zeros"
    rc = ex.features["ranking_change"]
    assert -1 <= rc["spearman"] <= 1 and 0 <= rc["top_k_overlap"] <= rc["top_k"]
    assert set(ex.features["by_baseline"]) == {"zeros", "history"}
    grid = ex.features["attributions"]
    assert grid.shape == (shipped.config.window, 15) and grid.index[-1] == ex.time


def test_the_default_target_is_what_decides_and_the_band_is_a_gate(shipped, gspc):
    """Edge-rule checkpoint: the edge by default; 'position' is the pre-band position (equal to the book outside
    the band); the band's verdict and margin are stated, not attributed; the argmax logit is not offered."""
    from hrm_core.trading.signals import generate_signals

    table = generate_signals(shipped, gspc, symbol="^GSPC", interval="1d").table.loc["2016":"2018"]
    long_day, flat_day_at = (table.index[table["action"] == side][-1] for side in ("long", "flat"))
    a = explain_decision(shipped, gspc, long_day, symbol="^GSPC", interval="1d")
    b = explain_decision(shipped, gspc, long_day, symbol="^GSPC", interval="1d", target="position")
    rule = shipped.rule
    assert a.target == "edge" and a.offered_targets == ("edge", "position")
    assert a.module.f_input == pytest.approx(a.decision["p_long"] - a.decision["p_short"] - rule.centre, abs=1e-5)
    assert a.decision["action"] == "long" and b.module.f_input == pytest.approx(a.decision["position"], abs=1e-5)
    assert a.gate["margin"] == pytest.approx(abs(a.module.f_input) - rule.band, abs=1e-5) and a.gate["margin"] > 0
    lean = "p_long - p_short" + (f" {'-' if rule.centre > 0 else '+'} {abs(rule.centre):.3g}" if rule.centre else "")
    assert a.summary.startswith(f"Long because {lean} = {a.module.f_input:+.3f} >= +band {rule.band:.3f}")
    assert "- -" not in a.summary  # a negative centre reads "+ 0.0114", never "- -0.0114"
    with pytest.raises(ValueError, match="does not explain"):
        explain_decision(shipped, gspc, long_day, symbol="^GSPC", interval="1d", target="action_logit")
    flat_day = explain_decision(shipped, gspc, flat_day_at, symbol="^GSPC", interval="1d", target="position")
    assert flat_day.decision["action"] == "flat" and flat_day.gate["inside"]  # pre-band position is not 0 there
    assert flat_day.module.f_input != 0 and "inside the no-trade band" in flat_day.summary


def test_signed_shares_sum_to_one_and_opposed_modules_are_said_in_words(shipped, gspc):
    ex = explain_decision(shipped, gspc, "2017-06-01", symbol="^GSPC", interval="1d")
    m = ex.module
    assert m.h_share + m.l_share == pytest.approx(1.0, abs=0.01)
    assert m.h_share == pytest.approx(m.h / (m.f_input - m.f_baseline))
    if m.h * m.l < 0:
        assert "opposite directions" in ex.summary and max(m.h_share, m.l_share) > 1


def test_counterfactuals_are_found_with_the_real_model(shipped, gspc):
    """Applying a reported change really moves the book to the reported side; a 'no flip' entry says so."""
    from explain.counterfactual import _actions
    from hrm_core.data.features import FEATURE_NAMES

    ex = explain_decision(shipped, gspc, "2017-06-01", symbol="^GSPC", interval="1d")
    assert len(ex.counterfactual) == 3 and {"feature", "from", "to", "result", "text"} <= set(ex.counterfactual[0])
    ds = decision_dataset(shipped, gspc, symbol="^GSPC", interval="1d")
    row = int(ds.times.searchsorted(ex.time))
    iid, tid = shipped.instrument_ids(["^GSPC"]).long().view(1), torch.tensor([shipped.timeframe_id("1d")])
    for c in ex.counterfactual:
        if c["result"] is None:
            assert "no shift" in c["text"]
            continue
        j = list(FEATURE_NAMES).index(c["feature"])
        x = torch.from_numpy(np.ascontiguousarray(ds.X[row: row + 1])).clone()
        x[0, -c["bars"]:, j] += float(c["change"] / shipped.scaler.std[j])
        side = int(_actions(shipped.model, x, iid, tid, shipped.rule)[0])
        assert ["short", "flat", "long"][side + 1] == c["result"] != ex.decision["action"]


def test_similar_situations_come_from_the_training_period(shipped, gspc):
    ex = explain_decision(shipped, gspc, "2018-03-01", symbol="^GSPC", interval="1d")
    items = ex.similar["items"]
    train_end = pd.Timestamp(shipped.periods["train"][1], tz="UTC")
    assert len(items) == 5 and all(pd.Timestamp(i["time"]) <= train_end for i in items)
    d = [i["distance"] for i in items]
    assert d == sorted(d)
    first = pd.Timestamp(items[0]["time"])
    close = gspc["close"]
    at = close.index.get_loc(first)
    assert items[0]["forward_return"] == pytest.approx(close.iloc[at + 1] / close.iloc[at] - 1)


@pytest.mark.parametrize("at, words", [("1990-01-01", "before the first complete window"),
                                       ("2099-01-01", "after the data"), ("soon", "not a date")])
def test_a_time_outside_the_decisions_is_a_clear_error(shipped, gspc, at, words):
    with pytest.raises(DataError, match=words):
        explain_decision(shipped, gspc, at, symbol="^GSPC", interval="1d")


def test_a_weekend_picks_the_last_bar_before_it(shipped, gspc):
    ex = explain_decision(shipped, gspc, "2017-06-04", symbol="^GSPC", interval="1d", n_steps=4)
    assert ex.time == pd.Timestamp("2017-06-02", tz="UTC")


# ----------------------------------------------------------------------------- shared model safety

def test_two_concurrent_explanations_of_one_model_match_sequential_ones(shipped, gspc):
    times = ["2016-06-01", "2018-03-01"]
    ds = decision_dataset(shipped, gspc, symbol="^GSPC", interval="1d")
    expected = [explain_decision(shipped, gspc, t, symbol="^GSPC", interval="1d", dataset=ds).to_dict() for t in times]
    got: dict[int, dict] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work(i: int) -> None:
        try:
            barrier.wait()
            for _ in range(2):
                got[i] = explain_decision(shipped, gspc, times[i], symbol="^GSPC", interval="1d", dataset=ds).to_dict()
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in range(2):
        for key in ("decision", "module", "top_features", "summary"):
            assert got[i][key] == expected[i][key]
    assert not any(t._forward_hooks for t in shipped.model.taps.modules())  # no hook left behind


# ----------------------------------------------------------------------------- report

def test_the_html_report_is_self_contained_and_has_every_section(shipped, gspc, tmp_path):
    import html

    from explain.report import write_html

    ex = explain_decision(shipped, gspc, "2017-06-01", symbol="^GSPC", interval="1d")
    path = write_html(ex, shipped, tmp_path / "r" / "report.html", data_badge="offline sample")
    text = path.read_text()
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert "src=\"//" not in text and "@import" not in text
    for section in SECTIONS:
        assert f"id='{section}'" in text
    assert html.escape(ex.summary) in text and text.count("data:image/png;base64,") >= 5
    flat = load_checkpoint(MODELS / "flat" / "model.pt")
    flat_text = render_html(explain_decision(flat, gspc, "2017-06-01", symbol="^GSPC", interval="1d"), flat)
    assert "not applicable" in flat_text


# ----------------------------------------------------------------------------- period, cache, CLI

def test_period_view_is_cached_and_measures_the_claims(shipped, gspc, tmp_path, offline_settings):
    from hrm_core.settings import load_settings

    offline_settings()  # signal cache in tmp_path
    kw = dict(symbol="^GSPC", interval="1d", start="2017-01-01", end="2017-02-28", store=tmp_path / "results.db",
              n_steps=16, settings=load_settings())
    cold = explain_period(shipped, gspc, **kw)
    warm = explain_period(shipped, gspc, **kw)
    assert not cold.cached and warm.cached
    pd.testing.assert_frame_equal(cold.frame, warm.frame)
    s = warm.stats()
    assert s["decisions"] == len(gspc.loc["2017-01-01":"2017-02-28"])
    lo, hi = s["h_led_share"]["ci"]
    assert 0 <= lo <= s["h_led_share"]["value"] <= hi <= 1
    assert s["completeness"]["max_abs"] <= 0.01
    assert set(s["by_action"]) <= {"short", "flat", "long"} and s["by_steps"]
    other = explain_period(shipped, gspc, **{**kw, "n_steps": 8})
    assert not other.cached  # n_steps is part of the key


def test_period_stats_on_hand_made_decisions():
    """Four decisions with known shares and PnL: the figures the docs quote, checked against hand arithmetic."""
    from explain.period import PeriodExplanation

    idx = pd.date_range("2017-01-02", periods=4, freq="B", tz="UTC", name="time")
    frame = pd.DataFrame({"action": ["long", "flat", "long", "short"], "steps": [1, 1, 2, 1],
                          "h": [1.3, 0.2, 0.55, -0.1], "l": [-0.3, 0.8, 0.45, 1.1],
                          "h_share": [1.3, 0.2, 0.55, -0.1], "lead": ["H-led", "L-led", "mixed", "L-led"],
                          "completeness_delta": [0.001, -0.002, 0.0, 0.004],
                          "regime": ["bull"] * 4, "pnl": [0.010, 0.020, -0.005, 0.0025]}, index=idx)
    s = PeriodExplanation(frame, "m@x", "^GSPC", "1d", {}, "edge", "zeros", 8, False, 0.0).stats()
    assert s["h_led_share"]["value"] == 0.25 and s["l_led_share"]["value"] == 0.5 and s["mixed_share"] == 0.25
    assert s["opposed_share"] == 0.5  # H and L of opposite sign on decisions 1 and 4
    assert s["pnl_total"]["value"] == pytest.approx(0.0275) and s["pnl_h_led"]["value"] == pytest.approx(0.010)
    assert s["pnl_share_h_led"]["value"] == pytest.approx(0.010 / 0.0275)
    assert s["completeness"]["max_abs"] == pytest.approx(0.004) and s["by_steps"]["2"]["decisions"] == 1
    losing = PeriodExplanation(frame.assign(pnl=-frame["pnl"]), "m@x", "^GSPC", "1d", {}, "edge", "zeros", 8, False,
                               0.0).stats()
    assert losing["pnl_share_h_led"] is None and "not positive" in losing["pnl_note"]


@pytest.mark.parametrize("execution", ["next_open", "close"])
def test_period_decision_pnl_is_the_backtests_and_sums_to_its_net_pnl(shipped, gspc, offline_settings, execution):
    from dataclasses import replace

    from hrm_core.trading.backtest import decision_pnl
    from hrm_core.evaluation.evaluate import Period, backtest_target
    from hrm_core.settings import load_settings
    from hrm_core.trading.signals import generate_signals
    from explain.period import _decision_pnl

    offline_settings()
    s = load_settings()
    s = replace(s, costs=replace(s.costs, execution=execution))
    sig = generate_signals(shipped, gspc, symbol="^GSPC", interval="1d", cache=None)
    period = Period("2017-01-01", "2017-03-31", "custom")
    pnl, _ = _decision_pnl(sig, gspc, symbol="^GSPC", interval="1d", period=period, settings=s)
    run = backtest_target(sig.position, gspc, name="m", kind="model", symbol="^GSPC", interval="1d", period=period,
                          settings=s, n_boot=0)
    assert run.backtest.execution == execution
    assert pnl.sum() == pytest.approx(run.net_returns.sum(), abs=1e-12)
    pd.testing.assert_series_equal(pnl, decision_pnl(run.backtest, run.close, run.open_price))
    fr = run.backtest.frame
    if execution == "close":
        assert pnl.iloc[:-1].to_numpy() == pytest.approx((fr["gross_return"].shift(-1) - fr["cost"]).iloc[:-1])
    else:  # next-open: not the market-on-close split (which pays decision t-1's fill and gap to decision t)
        assert pnl.iloc[-1] == 0.0
        assert not np.allclose(pnl.iloc[:-1], (fr["gross_return"].shift(-1) - fr["cost"]).iloc[:-1])


@pytest.fixture
def cli(offline_settings, capsys):
    from hrm_cli import main

    offline_settings(models_dir=MODELS)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


def test_cli_contract_keys(cli):
    code, out, _ = cli("explain", "--symbol", "^GSPC", "--interval", "1d", "--at", "2017-06-01", "--json")
    assert code == 0
    p = json.loads(out)
    assert {"action", "position", "steps"} <= set(p["decision"])
    assert p["target"]["name"] == "edge"  # what decides for the shipped (edge-rule) model
    m = p["module"]
    assert {"h_share", "l_share", "completeness_delta"} <= set(m)
    assert m["h_share"] + m["l_share"] == pytest.approx(1.0, abs=0.01) and abs(m["completeness_delta"]) <= 0.01
    assert p["counterfactual"] and all({"feature", "from", "to", "result"} <= set(c) for c in p["counterfactual"])
    assert p["similar"] and all({"time", "forward_return"} <= set(s) for s in p["similar"])
    assert {"available"} <= set(p["stability"])
    if p["stability"]["available"]:
        assert {"decision_agreement", "top_feature_rank_corr"} <= set(p["stability"])
    assert p["cycles"] and {"p_short", "p_flat", "p_long"} <= set(p["cycles"]["steps"][0])
    assert p["top_features"] and p["summary"] and p["baseline"]["name"] == "zeros"
    assert p["time"].startswith("2017-06-01")


def test_cli_position_target_accounts_for_the_output(cli):
    code, out, _ = cli("explain", "--symbol", "^GSPC", "--interval", "1d", "--at", "2018-03-01", "--target",
                       "position", "--json")
    p = json.loads(out)
    assert code == 0 and p["target"]["name"] == "position"
    assert abs(p["module"]["completeness_delta"]) <= 0.01 and abs(p["features"]["completeness_delta"]) <= 0.01


@pytest.mark.parametrize("at", ["1990-01-01", "2099-01-01"])
def test_cli_time_outside_the_data_is_one_line_exit_2(cli, at):
    code, out, err = cli("explain", "--symbol", "^GSPC", "--interval", "1d", "--at", at, "--json")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_html_and_csv(cli, tmp_path, gspc):
    csv = tmp_path / "mine.csv"
    gspc.loc[:"2017-12-31"].reset_index().rename(columns={"time": "date"}).to_csv(csv, index=False)
    html = tmp_path / "report.html"
    code, out, err = cli("explain", "--csv", str(csv), "--interval", "1d", "--at", "2017-06-01", "--html", str(html))
    assert code == 0, err
    assert html.exists() and "wrote" in out


def test_cli_period_writes_the_docs_section(cli, tmp_path):
    md = tmp_path / "results.md"
    md.write_text("# Results\n\nkept\n")
    code, out, err = cli("explain", "--symbol", "^GSPC", "--interval", "1d", "--period", "--start", "2018-01-01",
                         "--end", "2018-01-31", "--docs", str(md), "--n-steps", "8", "--json")
    assert code == 0, err
    p = json.loads(out)
    assert p["claims"]["strategic share of decisions"] == 0.34 and p["decisions"] > 0
    text = md.read_text()
    assert "kept" in text and "<!-- BEGIN explain -->" in text and "34.0 %" in text and "61.0 %" in text
