"""Reasoning diagnostics: residuals, the convergence criterion, depth, participation ratio, `hrm diagnose`."""
import json
import math

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from hrm_cli import main
from hrm_core.model.config import get_preset
from hrm_core.reasoning.diagnostics import (
    contraction_factor, depth_summary, is_converged, rank_correlation, residual_band, trace_windows,
)
from hrm_core.errors import ModelError
from hrm_core.model.networks import build_model
from hrm_core.reasoning.representations import participation_ratio, participation_ratio_ci, pca_2d

torch.set_num_threads(1)

CONTRACT_KEYS = ("convergence_rate", "criterion", "mean_segments", "segments_histogram", "depth_volatility_corr",
                 "participation_ratio_h", "participation_ratio_l", "halting_agreement", "depth_pays")


def _tiny(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_model(get_preset("tiny", **overrides)).eval()


def _windows(cfg, n: int, seed: int = 1) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, cfg.window, cfg.n_features, generator=g).numpy()


def _rel(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    return (after - before).flatten(1).norm(dim=1) / before.flatten(1).norm(dim=1)


# ----------------------------------------------------------------------------- residuals from the trace

def test_trace_residuals_equal_residuals_recomputed_by_hand_on_a_tiny_model():
    model = _tiny(act=False)
    cfg = model.config
    X = _windows(cfg, 5)
    tr = trace_windows(model, X, instrument_id=1, timeframe_id=1)

    x, ids = torch.from_numpy(X), torch.ones(5, dtype=torch.long)
    l_res, h_res, h_states = [], [], []
    with torch.no_grad():
        x_emb = model.embed(x, ids, ids)
        cos, sin = model.rotary(x_emb.shape[1])
        z_H = model.H_init.expand(x_emb.shape)
        z_L = model.L_init.expand(x_emb.shape)
        for _segment in range(cfg.max_segments):
            for _cycle in range(cfg.h_cycles):
                for _step in range(cfg.l_cycles):
                    new = model.L_level(z_L, z_H + x_emb, cos, sin)
                    l_res.append(_rel(z_L, new))
                    z_L = new
                new = model.H_level(z_H, z_L, cos, sin)
                h_res.append(_rel(z_H, new))
                h_states.append(new[:, 0])
                z_H = new

    assert tr.l_res.shape == (5, cfg.max_segments * cfg.h_cycles * cfg.l_cycles)
    np.testing.assert_allclose(tr.l_res, torch.stack(l_res, 1).numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(tr.h_res, torch.stack(h_res, 1).numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(tr.z_H, torch.stack(h_states, 1).numpy(), rtol=1e-5, atol=1e-6)


def test_the_as_run_depth_and_outputs_are_what_infer_decides():
    model = _tiny(seed=3)
    with torch.no_grad():  # a Q-head that halts some samples after segment 1 and not others
        model.heads.q.proj.weight.normal_(0, 1.0)
        model.heads.q.proj.bias.zero_()
    X = _windows(model.config, 64, seed=4)
    tr = trace_windows(model, X, instrument_id=1, timeframe_id=1)
    ids = torch.ones(64, dtype=torch.long)
    out = model.infer(torch.from_numpy(X), ids, ids)

    assert 0 < (tr.steps == 1).sum() < 64, "the test needs both depths"
    np.testing.assert_array_equal(tr.steps, out.steps.numpy())
    rows = np.arange(64)
    np.testing.assert_allclose(tr.probs[rows, tr.steps - 1], torch.softmax(out.policy_logits, -1).numpy(),
                               rtol=1e-4, atol=1e-6)
    as_run = tr.as_run(tr.h_res, model.config.h_cycles)
    assert np.isnan(as_run[tr.steps == 1, model.config.h_cycles:]).all()
    assert np.isfinite(as_run[tr.steps == 2]).all()


def test_the_flat_model_has_no_loops_to_trace():
    torch.manual_seed(0)
    flat = build_model(get_preset("flat_tiny")).eval()
    with pytest.raises(ModelError, match="not applicable"):
        trace_windows(flat, _windows(flat.config, 2), instrument_id=1, timeframe_id=1)


# ----------------------------------------------------------------------------- the convergence criterion

class Contraction(nn.Module):
    """Halves the distance to a fixed point: z -> f + (z - f) / 2 (every token, every channel)."""

    def __init__(self, fixed: float):
        super().__init__()
        self.fixed = fixed

    def forward(self, z, injection, cos, sin):
        return self.fixed + 0.5 * (z - self.fixed)


class Oscillation(nn.Module):
    """Reflects the state through a point: z -> 2c - z, so it flips between two states forever."""

    def __init__(self, centre: float):
        super().__init__()
        self.centre = centre

    def forward(self, z, injection, cos, sin):
        return 2 * self.centre - z


def _hand_built(module_cls, value: float):
    model = _tiny(act=False, max_segments=4)  # 4 segments x N = 2: eight H updates
    model.H_level, model.L_level = module_cls(value), module_cls(value)
    return trace_windows(model, _windows(model.config, 3), instrument_id=1, timeframe_id=1)


def test_a_contraction_has_geometrically_falling_residuals_and_is_converged():
    tr = _hand_built(Contraction, 2.0)
    ratios = tr.h_res[:, 1:] / tr.h_res[:, :-1]
    assert (ratios < 1).all()
    np.testing.assert_allclose(ratios[:, -3:], 0.5, atol=0.05)  # ||z|| -> ||f||, so the ratio -> 1/2
    np.testing.assert_allclose(contraction_factor(tr.h_res), 0.5, atol=0.1)
    assert is_converged(tr.h_res).all()


def test_an_oscillating_module_is_not_converged():
    tr = _hand_built(Oscillation, 0.5)
    assert (tr.h_res > 0.05).all()
    assert not is_converged(tr.h_res).any()


def test_the_criterion_needs_a_small_last_step_that_is_no_larger_than_the_one_before():
    h = np.array([
        [1.0, 0.5, 0.25, 0.125, 0.0625, 0.03],  # contracting: converged
        [1.0, 0.01, 0.04, np.nan, np.nan, np.nan],  # small but growing again, halted after 3: not converged
        [1.0, 0.2, 0.04, np.nan, np.nan, np.nan],  # halted after 3 updates, settled: converged
        [0.8, 0.8, 0.8, 0.8, 0.8, 0.8],  # oscillating: not converged
    ])
    assert is_converged(h).tolist() == [True, False, True, False]
    assert is_converged(h, tol=0.02).tolist() == [False, False, False, False]


def test_the_residual_band_ignores_halted_steps_and_counts_who_is_still_running():
    band = residual_band(np.array([[1.0, 0.5], [3.0, np.nan], [2.0, np.nan]]))
    assert band["median"] == [2.0, 0.5]
    assert band["running"] == pytest.approx([1.0, 1 / 3])
    assert band["p10"][0] == pytest.approx(1.2) and band["p90"][0] == pytest.approx(2.8)


# ----------------------------------------------------------------------------- depth

def test_the_depth_histogram_lists_every_depth_and_the_mean():
    d = depth_summary(np.array([1, 1, 3, 2, 1]), 3)
    assert d["segments_histogram"] == {"1": 3, "2": 1, "3": 1}
    assert d["mean_segments"] == pytest.approx(1.6)


def test_the_depth_volatility_correlation_recovers_a_known_correlation():
    rng = np.random.default_rng(0)
    rho = 0.8
    x = rng.standard_normal(3000)
    y = rho * x + math.sqrt(1 - rho**2) * rng.standard_normal(3000)
    expected = 6 / math.pi * math.asin(rho / 2)  # Spearman's rho of a bivariate normal
    got = rank_correlation(x, y, n_boot=300)
    assert got["value"] == pytest.approx(expected, abs=0.03)
    assert got["ci"][0] < expected < got["ci"][1]
    assert rank_correlation(x, np.exp(x), n_boot=50)["value"] == pytest.approx(1.0)
    assert rank_correlation(x, -x, n_boot=50)["value"] == pytest.approx(-1.0)


def test_a_constant_depth_has_no_correlation_and_says_why():
    got = rank_correlation(np.ones(50), np.arange(50.0), n_boot=50, names=("depth", "volatility"))
    assert math.isnan(got["value"]) and all(math.isnan(v) for v in got["ci"])
    assert "depth is constant" in got["note"]


# ----------------------------------------------------------------------------- representations

def test_the_participation_ratio_of_an_isotropic_covariance_is_the_dimension():
    D = 6
    X = np.vstack([np.eye(D), -np.eye(D)])  # sample covariance exactly proportional to I
    assert participation_ratio(X) == pytest.approx(D)


def test_the_participation_ratio_of_rank_one_states_is_one():
    rng = np.random.default_rng(1)
    X = rng.standard_normal(40)[:, None] * rng.standard_normal(8)[None, :]
    assert participation_ratio(X) == pytest.approx(1.0)


def test_the_participation_ratio_matches_a_hand_computed_spectrum():
    X = np.array([[math.sqrt(2), 0], [-math.sqrt(2), 0], [0, 1], [0, -1]])  # eigenvalues in ratio 2 : 1
    assert participation_ratio(X) == pytest.approx((2 + 1) ** 2 / (2**2 + 1**2))


def test_the_participation_ratio_interval_brackets_its_value():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 5)) * np.array([3.0, 2.0, 1.0, 0.5, 0.1])
    got = participation_ratio_ci(X, n_boot=200)
    assert got["ci"][0] < got["value"] < got["ci"][1] and got["n"] == 300 and got["dims"] == 5


def test_pca_of_a_straight_trajectory_is_one_dimensional():
    pts = np.outer(np.arange(5.0), np.array([1.0, 2.0, -1.0]))
    got = pca_2d(pts)
    assert got["explained"][0] == pytest.approx(1.0) and len(got["x"]) == 5
    assert np.allclose(got["y"], 0.0)


# ----------------------------------------------------------------------------- `hrm diagnose`

ARGS = ["diagnose", "--symbol", "^GSPC", "--interval", "1d", "--start", "2016-01-01", "--end", "2016-12-31"]


def _run(capsys, argv):
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured


def test_hrm_diagnose_prints_the_contract_json_and_caches_it(offline_settings, capsys):
    offline_settings()
    rc, out = _run(capsys, [*ARGS, "--json"])
    assert rc == 0, out.err
    p = json.loads(out.out)
    assert set(CONTRACT_KEYS) <= set(p)
    assert 0.0 <= p["convergence_rate"] <= 1.0 and "H update" in p["criterion"]
    assert sum(p["segments_histogram"].values()) == p["decisions"] > 200  # one year of daily decisions
    assert 1.0 <= p["mean_segments"] <= p["max_segments"]
    assert "value" in p["depth_volatility_corr"] and len(p["depth_volatility_corr"]["ci"]) == 2
    for key in ("participation_ratio_h", "participation_ratio_l"):
        assert 1.0 <= p[key]["value"] <= p[key]["dims"] and p[key]["ci"][0] <= p[key]["value"] <= p[key]["ci"][1]
    assert 0.0 <= p["halting_agreement"]["rate"] <= 1.0 and "pnl_difference_pct" in p["halting_agreement"]
    pays = p["depth_pays"]
    assert set(pays["logloss"]) == {"as_run", "depth_1", "max_depth"} and pays["n"] > 200
    for name, d in pays["differences"].items():
        assert d["ci"][0] <= d["mean"] <= d["ci"][1], name
    assert p["halt_objective"] and p["inference_mode"] in ("adaptive", "fixed", "max")
    assert p["cached"] is False and p["first"].startswith("2016-01") and p["last"].startswith("2016-12")

    rc, again = _run(capsys, [*ARGS, "--json"])
    assert rc == 0 and json.loads(again.out)["cached"] is True


def test_period_intervals_use_blocks_as_long_as_the_volatility_and_input_windows(offline_settings, capsys):
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.reasoning.diagnostics import VOL_WINDOW, decision_block
    from hrm_core.trading.metrics import bootstrap_ci

    assert decision_block(754, 64) == 64.0 and decision_block(754, 8) == float(VOL_WINDOW)
    assert decision_block(10 ** 6, 8) == pytest.approx(100.0)
    offline_settings()
    rc, out = _run(capsys, [*ARGS, "--json", "--n-boot", "200"])
    assert rc == 0, out.err
    p = json.loads(out.out)
    shipped = Path(__file__).resolve().parents[2] / "models" / "hrm-default" / "model.pt"
    window = load_checkpoint(shipped).config.window
    block = max(VOL_WINDOW, window, p["decisions"] ** (1 / 3))
    for key in ("depth_volatility_corr", "depth_high_vol_corr", "participation_ratio_h", "participation_ratio_l"):
        assert p[key]["mean_block"] == pytest.approx(block), key
    # the interval is the bootstrap's with that block (not the n^(1/3) default)
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(size=300))
    y = x + rng.normal(size=300)
    got = rank_correlation(x, y, n_boot=200, mean_block=30.0)
    from scipy.stats import spearmanr
    expect = bootstrap_ci(np.arange(300.0), lambda r: spearmanr(x[r.astype(int)], y[r.astype(int)])[0],
                          n_boot=200, mean_block=30.0)
    assert got["ci"] == pytest.approx(list(expect), abs=1e-9)
    X = rng.normal(size=(200, 6))
    pr = participation_ratio_ci(X, n_boot=100, mean_block=25.0)
    assert pr["mean_block"] == 25.0 and pr["ci"] != participation_ratio_ci(X, n_boot=100)["ci"]


def test_hrm_diagnose_says_not_applicable_for_the_flat_model(offline_settings, capsys):
    offline_settings()
    rc, out = _run(capsys, [*ARGS, "--model", "flat", "--json"])
    p = json.loads(out.out)
    assert rc == 0 and p["applicable"] is False and "not applicable" in p["note"]
    assert p["convergence_rate"] is None and set(CONTRACT_KEYS) <= set(p)


def test_hrm_diagnose_reads_a_csv_and_traces_one_decision(offline_settings, capsys, tmp_path):
    from hrm_core.data.market import load_bars
    from hrm_core.settings import load_settings

    toml = offline_settings()
    bars = load_bars("^GSPC", "1d", settings=load_settings(toml)).bars
    csv = tmp_path / "mine.csv"
    bars.loc[:"2017-06-30"].to_csv(csv)
    rc, out = _run(capsys, ["diagnose", "--csv", str(csv), "--interval", "1d", "--start", "2017-01-01",
                            "--at", "2017-03-15", "--json"])
    assert rc == 0, out.err
    p = json.loads(out.out)
    d = p["decision"]
    assert d["time"].startswith("2017-03-15") and 1 <= d["steps"] <= d["max_segments"]
    assert len(d["l_residuals"]) == len(d["l_steps"]) == d["max_segments"] * d["h_cycles"] * d["l_cycles"]
    assert len(d["pca"]["h"]["x"]) == 1 + len(d["h_steps"])  # the initial state, then every H update


def test_diagnose_and_explain_pick_the_same_bar_for_a_date(offline_settings):
    """--at DATE covers the whole day in both verbs: with bars stamped at 21:00 UTC, the bar of that day."""
    from explain.core import decision_dataset, locate
    from hrm_core.data.bars import bar_at_or_before
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.data.market import load_bars
    from hrm_core.reasoning.diagnostics import decision_view
    from hrm_core.errors import DataError
    from hrm_core.settings import load_settings

    toml = offline_settings()
    bars = load_bars("^GSPC", "1d", settings=load_settings(toml)).bars.loc[:"2017-06-30"]
    bars.index = bars.index + pd.Timedelta(hours=21)  # the close of the US session
    loaded = load_checkpoint(Path(__file__).resolve().parents[2] / "models" / "hrm-default" / "model.pt")
    d = decision_view(loaded, bars, symbol="^GSPC", interval="1d", at="2017-03-15")
    ds = decision_dataset(loaded, bars, symbol="^GSPC", interval="1d")
    assert d["time"] == ds.times[locate(ds, bars, "2017-03-15")].isoformat() == "2017-03-15T21:00:00+00:00"
    assert bars.index[bar_at_or_before(bars.index, "2017-03-15 12:00")] == pd.Timestamp("2017-03-14 21:00", tz="UTC")
    with pytest.raises(DataError, match="after the data"):
        decision_view(loaded, bars, symbol="^GSPC", interval="1d", at="2030-01-01")


def test_hrm_diagnose_without_an_instrument_fails_with_one_line(offline_settings, capsys):
    offline_settings()
    rc, out = _run(capsys, ["diagnose", "--interval", "1d"])
    assert rc == 2 and out.err.strip().count("\n") == 0 and "--symbol" in out.err


def test_hrm_diagnose_docs_writes_every_model_beside_the_seed_claims(offline_settings, capsys, tmp_path):
    offline_settings()
    md = tmp_path / "results.md"
    md.write_text("# Results\n\nkept as it was\n")
    rc, out = _run(capsys, ["diagnose", "--docs", str(md), "--symbol", "^GSPC", "--interval", "1d",
                            "--start", "2016-07-01", "--end", "2016-12-31"])
    assert rc == 0, out.err
    text = md.read_text()
    assert text.startswith("# Results\n\nkept as it was")
    section = text[text.index("<!-- BEGIN diagnostics -->"):text.index("<!-- END diagnostics -->")]
    for model in ("hrm-default", "hrm-n1t1", "hrm-noact"):
        assert f"| ^GSPC | {model} |" in section
    assert "| ^GSPC | flat | flat | not applicable" in section
    assert "seed (claimed, unverified)" in section and "94.3 %" in section
    assert "Period 2016-07-01 to 2016-12-31" in section and "`hrm diagnose --docs" in section


def test_the_docs_section_says_so_when_no_checkpoint_has_reasoning_loops():
    from hrm_core.reasoning.report import diagnostics_markdown
    from hrm_core.settings import Settings

    md = diagnostics_markdown({"^GSPC": [{"model": "flat", "applicable": False}]}, period=(None, None),
                              settings=Settings(), command="hrm diagnose --docs")
    assert md.startswith("## Reasoning diagnostics") and "No hierarchical (HRM) checkpoint applies" in md
