"""Metrics: hand-computed values, agreement with QuantStats where the definitions agree, significance, bootstrap."""
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hrm_core.trading import metrics as M
from hrm_core.trading.backtest import run_backtest


def daily(values):
    idx = pd.date_range("2020-01-01", periods=len(values), freq="B", tz="UTC")
    return pd.Series(np.asarray(values, dtype=float), index=idx)


def noise(n=1000, seed=0, mu=0.0005, vol=0.01):
    return daily(np.random.default_rng(seed).normal(mu, vol, n))


# --- annualisation ------------------------------------------------------------------

def test_periods_per_year_per_reference():
    assert [M.periods_per_year(i) for i in ("1d", "1wk", "1mo", "1h")] == [252, 52, 12, 1638]
    assert M.periods_per_year("1h", calendar="24/7") == 8760
    with pytest.raises(ValueError, match="use one of"):
        M.periods_per_year("5m")


# --- hand-computed ------------------------------------------------------------------

def test_sharpe_by_hand():
    # mean 0.02, sample std 0.01 -> 2 per period
    assert M.sharpe([0.01, 0.02, 0.03], periods_per_year=252) == pytest.approx(2 * math.sqrt(252))


def test_sharpe_subtracts_the_per_period_risk_free_rate():
    rf_p = 1.05 ** (1 / 12) - 1
    r = np.array([0.01, 0.02, 0.03])
    expected = (r - rf_p).mean() / r.std(ddof=1) * math.sqrt(12)
    assert M.sharpe(r, periods_per_year=12, rf_annual=0.05) == pytest.approx(expected)


def test_sortino_divides_downside_by_all_observations():
    r = [0.02, -0.01, 0.03, -0.02]  # mean 0.005; DD = sqrt((0.01^2 + 0.02^2) / 4)
    assert M.sortino(r, periods_per_year=252) == pytest.approx(0.005 / math.sqrt(0.0005 / 4) * math.sqrt(252))


def test_max_drawdown_counts_a_first_day_loss():
    assert M.max_drawdown([-0.10, 0.05]) == pytest.approx(-0.10)  # W_0 = 1 prepended


def test_max_drawdown_duration_and_calmar_by_hand():
    r = [0.1, -0.2, 0.1, 0.5]  # W = 1.1, 0.88, 0.968, 1.452
    assert M.max_drawdown(r) == pytest.approx(0.88 / 1.1 - 1)
    assert M.drawdown_duration(r) == (3.0, False)  # peak at bar 1, back above it at bar 4
    assert M.cagr(r, periods_per_year=4) == pytest.approx(0.452)  # one year of quarterly bars
    assert M.calmar(r, periods_per_year=4) == pytest.approx(0.452 / 0.2)


def test_an_open_drawdown_at_the_end_is_flagged():
    assert M.drawdown_duration([0.1, -0.2, 0.05]) == (2.0, True)


def test_profit_factor_and_win_rates_by_hand():
    assert M.profit_factor([0.02, -0.01, 0.03, -0.02]) == pytest.approx(0.05 / 0.03)
    assert M.win_rate_per_period([0.01, 0.0, -0.01, 0.02]) == pytest.approx(2 / 3)  # flat bar not counted
    trades = pd.DataFrame({"pnl_return": [0.05, -0.02, 0.01, 0.3], "open": [False, False, False, True]})
    m = M.compute_metrics(daily([0.01, -0.01, 0.0]), periods_per_year=252, trades=trades)
    assert m["Win rate per trade [%]"] == pytest.approx(100 * 2 / 3)  # the open trade is excluded
    assert m["Trades"] == 4


def test_information_ratio_is_annualised():
    r, b = noise(500, 1), noise(500, 2)
    d = r - b
    assert M.information_ratio(r, b, periods_per_year=252) == pytest.approx(d.mean() / d.std() * math.sqrt(252))


# --- agreement with QuantStats where the definitions agree ----------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_quantstats_on_shared_definitions(seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import quantstats as qs

        # QuantStats 0.0.86 needs a tz-naive DatetimeIndex (max_drawdown adds a phantom day before it)
        r = noise(750, seed, mu=0.0003, vol=0.012).tz_localize(None)
        P = 252
        assert M.sharpe(r, periods_per_year=P) == pytest.approx(qs.stats.sharpe(r, periods=P), rel=1e-9)
        assert M.sortino(r, periods_per_year=P) == pytest.approx(qs.stats.sortino(r, periods=P), rel=1e-9)
        assert M.annual_volatility(r, periods_per_year=P) == pytest.approx(qs.stats.volatility(r, periods=P), rel=1e-9)
        assert M.max_drawdown(r) == pytest.approx(qs.stats.max_drawdown(r), rel=1e-9)
        # CAGR: QuantStats 0.0.86 uses years = T / periods, as we do.
        assert M.cagr(r, periods_per_year=P) == pytest.approx(qs.stats.cagr(r, periods=P), rel=1e-9)
        assert M.profit_factor(r) == pytest.approx(qs.stats.profit_factor(r), rel=1e-9)
        # Win rate: QuantStats' is per period with zeros excluded, as our per-period rate.
        assert M.win_rate_per_period(r) == pytest.approx(qs.stats.win_rate(r), rel=1e-9)
        # Information ratio: QuantStats' is NOT annualised; ours is, by sqrt(P).
        b = noise(750, seed + 10).tz_localize(None)
        assert M.information_ratio(r, b, periods_per_year=P) == pytest.approx(
            qs.stats.information_ratio(r, b) * math.sqrt(P), rel=1e-9
        )
        # PSR is deliberately NOT compared: QuantStats feeds excess kurtosis (see the PSR tests).


# --- significance ---------------------------------------------------------------------

def test_psr_known_value():
    # SR = 0.1 per period, T = 101, normal moments: Phi(0.1 * 10 / sqrt(1 + 0.5 * 0.01))
    assert M.psr_from_stats(0.1, 101, 0.0, 3.0) == pytest.approx(0.840741, abs=1e-6)


def test_psr_matches_the_direct_formula_with_raw_kurtosis():
    r = noise(800, 3, mu=0.001, vol=0.01).to_numpy()
    sr = r.mean() / r.std(ddof=1)
    g3, g4 = stats.skew(r), stats.kurtosis(r) + 3  # scipy gives excess kurtosis: add 3
    z = sr * math.sqrt(len(r) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    assert M.probabilistic_sharpe_ratio(r) == pytest.approx(stats.norm.cdf(z), rel=1e-12)
    # Feeding excess kurtosis (QuantStats' mistake) shrinks the variance term and overstates PSR.
    assert M.psr_from_stats(sr, len(r), g3, g4 - 3) > M.probabilistic_sharpe_ratio(r)


def test_dsr_with_one_trial_is_psr_and_more_trials_deflate_it():
    r = noise(1000, 4, mu=0.0008)
    psr = M.probabilistic_sharpe_ratio(r)
    assert M.deflated_sharpe_ratio(r, n_trials=1) == pytest.approx(psr)
    assert M.deflated_sharpe_ratio(r, n_trials=100) < M.deflated_sharpe_ratio(r, n_trials=10) < psr


def test_dsr_uses_the_variance_of_trial_sharpes():
    r = noise(1000, 5, mu=0.0008)
    trials = [0.01, 0.03, 0.05, 0.02, 0.04]
    v = np.var(trials, ddof=1)
    g = 0.5772156649
    sr0 = math.sqrt(v) * ((1 - g) * stats.norm.ppf(1 - 1 / 5) + g * stats.norm.ppf(1 - 1 / (5 * math.e)))
    expected = M.probabilistic_sharpe_ratio(r, sr_benchmark=sr0)
    assert M.deflated_sharpe_ratio(r, n_trials=5, trial_sharpes=trials) == pytest.approx(expected)


def test_min_track_record_length_is_where_psr_reaches_the_confidence_level():
    r = noise(1000, 6, mu=0.001).to_numpy()
    trl = M.min_track_record_length(r, alpha=0.05)
    sr = r.mean() / r.std(ddof=1)
    psr_at_trl = M.psr_from_stats(sr, trl, stats.skew(r), stats.kurtosis(r, fisher=False))
    assert psr_at_trl == pytest.approx(0.95, abs=1e-9)
    assert math.isnan(M.min_track_record_length(-r))


# --- degenerate inputs ------------------------------------------------------------------

@pytest.mark.parametrize("values", [[], [0.0] * 20, [0.01] * 20, [0.01]])
def test_degenerate_inputs_give_nan_without_warnings(values):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = M.compute_metrics(daily(values), periods_per_year=252, positions=daily(np.zeros(len(values))))
        ci = M.metrics_with_ci(daily(values), periods_per_year=252, n_boot=50)
    assert math.isnan(m["Sharpe"]) and math.isnan(m["PSR (SR*=0)"]) and math.isnan(m["DSR"])
    assert math.isnan(ci["Sharpe CI 95% low"])


def test_nan_returns_raise_with_a_fix():
    with pytest.raises(ValueError, match="drop or fill"):
        M.compute_metrics(daily([0.01, np.nan]), periods_per_year=252)


# --- the table ----------------------------------------------------------------------------

def test_every_key_is_defined_for_the_ui_and_every_value_is_a_float():
    close = daily(100 * np.cumprod(1 + noise(400, 7).to_numpy()))
    res = run_backtest(np.sign(close.pct_change().fillna(0)), close, commission_bps=1, slippage_bps=2, execution="close")
    m = M.backtest_metrics(res, periods_per_year=252, n_trials=3)
    assert set(m) == set(M.METRIC_DEFINITIONS)
    assert all(isinstance(v, float) for v in m.values())
    assert m["Turnover (two-way, annual)"] == pytest.approx(res.turnover * 252 / len(close))
    assert m["Exposure [%]"] == pytest.approx(100 * (res.frame["position"] != 0).mean())
    for key in ("Sharpe", "Sortino", "Calmar", "Information ratio", "PSR (SR*=0)", "DSR", "Win rate per trade [%]"):
        assert np.isfinite(m[key]), key


# --- bootstrap ------------------------------------------------------------------------------

def test_stationary_bootstrap_indices_are_wrapped_geometric_blocks():
    rng = np.random.default_rng(0)
    idx = M.stationary_bootstrap_indices(100, 400, 8.0, rng)
    assert idx.shape == (400, 100) and idx.min() >= 0 and idx.max() <= 99
    continues = np.diff(idx, axis=1) % 100 == 1
    assert continues.mean() == pytest.approx(1 - 1 / 8, abs=0.01)  # P(new block) = 1 / mean_block
    wraps = (idx[:, :-1] == 99) & (idx[:, 1:] == 0)
    assert wraps.any()  # a block may run past the end and continue at the start


def test_bootstrap_ci_contains_the_estimate_and_is_reproducible():
    r = noise(1500, 8, mu=0.0005)
    stat = lambda x: x.mean() * 252  # noqa: E731
    lo, hi = M.bootstrap_ci(r, stat, n_boot=300, seed=1)
    assert lo < stat(r.to_numpy()) < hi
    assert (lo, hi) == M.bootstrap_ci(r, stat, n_boot=300, seed=1)
    assert (lo, hi) != M.bootstrap_ci(r, stat, n_boot=300, seed=2)
    # the vectorised form draws the same resamples
    vec = M.bootstrap_ci(r, lambda x: x.mean(axis=1) * 252, n_boot=300, seed=1, vectorized=True)
    assert vec == pytest.approx((lo, hi), rel=1e-12)


def test_metrics_with_ci_brackets_sharpe_and_annual_return():
    r = noise(2000, 9, mu=0.0006)
    ci = M.metrics_with_ci(r, periods_per_year=252, n_boot=500)
    assert ci["Sharpe CI 95% low"] < ci["Sharpe"] < ci["Sharpe CI 95% high"]
    assert ci["Annual return CI 95% low [%]"] < ci["Annual return [%]"] < ci["Annual return CI 95% high [%]"]


def test_bootstrap_resamples_in_batches_not_one_replicate_at_a_time():
    """2000 replicates of 5000 points reach a vectorised statistic in 40 calls of 50 x 5000 (chunks of 250k
    points: cache-sized and bounded memory). The time it takes is in `python -m benchmarks.backtest`."""
    r = noise(5000, 10)
    shapes = []

    def mean(samples):
        shapes.append(samples.shape)
        return samples.mean(axis=1)

    M.bootstrap_ci(r, mean, n_boot=2000, seed=1, vectorized=True)
    assert shapes == [(50, 5000)] * 40


def test_annualisation_is_read_off_the_bars():
    from hrm_core.trading.metrics import periods_per_year_of

    weekdays = pd.bdate_range("2024-01-01", periods=300, tz="UTC")
    every_day = pd.date_range("2024-01-01", periods=300, freq="D", tz="UTC")
    us_hours = pd.DatetimeIndex([d + pd.Timedelta(hours=14, minutes=30) + pd.Timedelta(hours=h)
                                 for d in weekdays[:50] for h in range(7)])
    crypto_hours = pd.date_range("2024-01-01", periods=24 * 50, freq="h", tz="UTC")
    assert periods_per_year_of(weekdays, "1d") == 252
    assert periods_per_year_of(every_day, "1d") == 365
    assert periods_per_year_of(us_hours, "1h") == 252 * 7
    assert periods_per_year_of(crypto_hours, "1h") == 365 * 24
    assert periods_per_year_of(weekdays, "1wk") == 52


def test_moments_are_scipys_biased_skew_and_raw_kurtosis():
    """The PSR's moments are computed with numpy (a backtest imports no scipy); they are scipy's estimators."""
    r = np.random.default_rng(3).standard_t(4, size=2000) * 0.01
    skew, kurt = M._moments(r)
    assert skew == pytest.approx(stats.skew(r), rel=1e-10) and kurt == pytest.approx(stats.kurtosis(r, fisher=False),
                                                                                      rel=1e-10)
    assert all(math.isnan(v) for v in M._moments(np.full(50, 0.01)))
