"""SPA and MCS on returns with a known answer: a planted edge is found, pure noise is not, every trial counts."""
import numpy as np
import pandas as pd

from hrm_core.evaluation.snooping import data_snooping_tests, snooping_sentence

DAYS = pd.bdate_range("2010-01-01", periods=2500, tz="UTC")


def returns(rng, drift: float = 0.0) -> pd.Series:
    return pd.Series(rng.normal(drift, 0.01, len(DAYS)), index=DAYS)


def test_a_planted_edge_is_found_and_leaves_the_reference_out_of_the_confidence_set():
    rng = np.random.default_rng(1)
    runs = {f"noise {i}": returns(rng) for i in range(9)} | {"edge": returns(rng, 0.002)}  # Sharpe ~3 a year
    out = data_snooping_tests(runs, {"buy & hold": returns(rng)}, n_boot=500)
    assert out["spa"]["buy & hold"]["pvalue"] < 0.05
    assert "edge" in out["mcs"]["included"] and "buy & hold" not in out["mcs"]["included"]
    assert out["spa"]["buy & hold"]["pvalue_lower"] <= out["spa"]["buy & hold"]["pvalue"] <= \
        out["spa"]["buy & hold"]["pvalue_upper"]


def test_the_best_of_many_noise_runs_is_not_called_superior():
    """Searching 30 runs for the best in-sample mean is what SPA corrects: the luckiest one must not pass."""
    rng = np.random.default_rng(2)
    runs = {f"noise {i}": returns(rng) for i in range(30)}
    out = data_snooping_tests(runs, {"buy & hold": returns(rng)}, n_boot=500)
    best = max(runs.values(), key=lambda r: r.mean())
    t = best.mean() / (best.std() / np.sqrt(len(best)))
    assert t > 1.5  # the search found a "winner" that a single t-test would flag ...
    assert out["spa"]["buy & hold"]["pvalue"] > 0.10  # ... which SPA does not call superior
    assert "buy & hold" in out["mcs"]["included"]
    assert "30 runs" in snooping_sentence(out, n_trials=30)


def test_too_few_days_is_stated_not_tested():
    rng = np.random.default_rng(3)
    short = {"a": returns(rng).iloc[:10]}
    assert "unavailable" in data_snooping_tests(short, {"b": returns(rng).iloc[:10]})
