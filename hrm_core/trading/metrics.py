"""Performance statistics, their significance, and bootstrap confidence intervals.

`compute_metrics` is one pure function producing a flat dict whose keys carry units
(backtesting.py `_stats.py` style); `METRIC_DEFINITIONS` holds the one-line definition of
every key, shown as a tooltip in the UI. Formulas follow shared/REFERENCE.md; each
convention is written next to its formula. Notation: r_t simple return per period,
T observations, P periods per year, s() sample standard deviation (ddof = 1).

Degenerate inputs (empty series, zero variance, no losses, no trades) give NaN, never an
exception or a leaked numpy warning.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd


_NORMAL = NormalDist()  # the standard normal's cdf and inverse (stdlib): importing scipy.stats takes about 1 s,
                        # and every backtest (the first page's trade list too) computes a PSR


EULER_GAMMA = 0.5772156649
_TINY = 1e-14  # a standard deviation below this is "zero variance" (float noise of a constant series)

# Bars per year. Hourly = 252 sessions x 6.5 bars actually present for US cash equities
# (REFERENCE "Sharpe"); 24/7 markets trade every hour of every day.
_PERIODS = {
    "us_equities": {"1h": 1638.0, "1d": 252.0, "1wk": 52.0, "1mo": 12.0},
    "24/7": {"1h": 8760.0, "1d": 365.0, "1wk": 52.0, "1mo": 12.0},
}


def periods_per_year(interval: str, *, calendar: str = "us_equities") -> float:
    """Bars per year for an interval: 1d 252, 1wk 52, 1mo 12, 1h 1638 (US cash equities).

    calendar="24/7" (crypto, FX-like) gives 1h 8760 and 1d 365.
    """
    try:
        table = _PERIODS[calendar]
    except KeyError:
        raise ValueError(f"unknown calendar {calendar!r}; use one of {sorted(_PERIODS)}") from None
    try:
        return table[interval]
    except KeyError:
        raise ValueError(f"unknown interval {interval!r}; use one of {sorted(table)}") from None


def periods_per_year_of(index: pd.DatetimeIndex, interval: str) -> float:
    """REFERENCE's annualisation read off the bars themselves, so any instrument is annualised right.

    Weekend bars (over 10 % of them) mean a 24/7 market: 365 days a year, else 252 (24/5
    markets such as FX trade 252 days: their Sunday-evening hours are about 2 % of the bars,
    and `bars.resample_bars` folds them into Monday's daily bar). Hourly
    bars count the bars per session actually present (median per UTC day): 252 x 7 for a
    US stock's yfinance hours, 365 x 24 for crypto. Daily and weekly use the fixed table.
    """
    if len(index) == 0:
        return periods_per_year(interval)
    always_open = float((np.asarray(index.day_of_week) >= 5).mean()) > 0.10
    if interval != "1h":
        return periods_per_year(interval, calendar="24/7" if always_open else "us_equities")
    per_day = float(pd.Series(1, index=index).groupby(index.normalize()).size().median())
    return (365.0 if always_open else 252.0) * per_day


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

def _arr(x) -> np.ndarray:
    """Finite float array; NaN rows are an error (they hide missing bars)."""
    a = np.asarray(x, dtype=float).ravel()
    if not np.isfinite(a).all():
        raise ValueError("returns contain NaN/inf: drop or fill them (0.0 for flat bars) before computing metrics")
    return a


def _per_period_rf(rf_annual: float, periods_per_year: float) -> float:
    """Annual risk-free rate -> per period: (1 + R_f)^(1/P) - 1."""
    return (1.0 + rf_annual) ** (1.0 / periods_per_year) - 1.0


def _std(a: np.ndarray) -> float:
    return float(np.std(a, ddof=1)) if len(a) >= 2 else math.nan


def _div(num: float, den: float) -> float:
    """num / den, NaN when the denominator is zero, tiny or NaN."""
    if not np.isfinite(den) or abs(den) < _TINY or not np.isfinite(num):
        return math.nan
    return float(num / den)


# ---------------------------------------------------------------------------------------
# performance
# ---------------------------------------------------------------------------------------

def sharpe_per_period(returns, *, rf_per_period: float = 0.0) -> float:
    """SR_p = mean(x) / s(x), x = r - rf per period, s with ddof = 1."""
    x = _arr(returns) - rf_per_period
    return _div(float(x.mean()), _std(x)) if len(x) >= 2 else math.nan


def sharpe(returns, *, periods_per_year: float, rf_annual: float = 0.0) -> float:
    """Annualised Sharpe: sqrt(P) * mean(x) / s(x). sqrt(P) assumes i.i.d. returns (Lo 2002)."""
    return math.sqrt(periods_per_year) * sharpe_per_period(
        returns, rf_per_period=_per_period_rf(rf_annual, periods_per_year)
    )


def sortino(returns, *, periods_per_year: float, rf_annual: float = 0.0) -> float:
    """Annualised Sortino: sqrt(P) * mean(r - tau) / DD, tau = per-period rf.

    DD = sqrt((1/T) sum min(r_t - tau, 0)^2) divides by ALL T observations (empyrical,
    QuantStats, PerformanceAnalytics "full"), not by the number of losing periods.
    NaN when there is no downside (DD = 0).
    """
    x = _arr(returns) - _per_period_rf(rf_annual, periods_per_year)
    if len(x) == 0:
        return math.nan
    dd = math.sqrt(float(np.mean(np.minimum(x, 0.0) ** 2)))
    return math.sqrt(periods_per_year) * _div(float(x.mean()), dd)


def annual_volatility(returns, *, periods_per_year: float) -> float:
    """s(r) * sqrt(P), ddof = 1."""
    return _std(_arr(returns)) * math.sqrt(periods_per_year)


def cagr(returns, *, periods_per_year: float) -> float:
    """Annual return = CAGR = (W_T / W_0)^(P / T) - 1 with W_0 = 1; -100 % once equity is gone."""
    a = _arr(returns)
    if len(a) == 0:
        return math.nan
    wealth = float(np.prod(1.0 + a))
    if wealth <= 0:
        return -1.0
    return wealth ** (periods_per_year / len(a)) - 1.0


def drawdown_series(returns) -> np.ndarray:
    """DD_t = W_t / max_{s<=t} W_s - 1 with W_0 = 1 prepended (so a first-day loss counts)."""
    a = _arr(returns)
    w = np.cumprod(1.0 + a)
    return w / np.maximum(np.maximum.accumulate(w), 1.0) - 1.0 if len(a) else a


def max_drawdown(returns) -> float:
    """MDD = min_t DD_t (a negative fraction; 0.0 when equity never falls, NaN when empty)."""
    dd = drawdown_series(returns)
    return float(min(dd.min(), 0.0)) if len(dd) else math.nan


def drawdown_duration(returns) -> tuple[float, bool]:
    """Longest drawdown in bars, peak to recovery, and whether the last episode is still open.

    Duration counts bars from the peak (the bar of the high, or the start for W_0 = 1) to
    the first bar back at or above it. An episode still open at the end is censored: its
    length so far is included in the maximum and the flag is True.
    """
    a = _arr(returns)
    if len(a) == 0:
        return math.nan, False
    w = np.concatenate(([1.0], np.cumprod(1.0 + a)))
    at_peak = w >= np.maximum.accumulate(w)
    peak_pos = np.maximum.accumulate(np.where(at_peak, np.arange(len(w)), 0))
    length = np.arange(len(w)) - peak_pos  # bars since the last peak (0 at a peak)
    # an episode ending at a recovery bar q has length q - peak_pos[q-1]
    rec = np.flatnonzero(at_peak[1:] & ~at_peak[:-1]) + 1
    closed = (rec - peak_pos[rec - 1]) if len(rec) else np.array([0])
    is_open = bool(not at_peak[-1])
    longest = max(int(closed.max()), int(length[-1]) if is_open else 0)
    return float(longest), is_open


def calmar(returns, *, periods_per_year: float) -> float:
    """CAGR / |MDD| over the full sample (Young 1991 used 36 months). NaN when MDD = 0."""
    return _div(cagr(returns, periods_per_year=periods_per_year), abs(max_drawdown(returns)))


def information_ratio(returns, benchmark, *, periods_per_year: float) -> float:
    """Annualised IR: sqrt(P) * mean(r - b) / s(r - b). (QuantStats' IR is NOT annualised.)"""
    d = _arr(returns) - _arr(benchmark)
    return math.sqrt(periods_per_year) * (_div(float(d.mean()), _std(d)) if len(d) >= 2 else math.nan)


def profit_factor(returns) -> float:
    """Sum of gains / |sum of losses| over the values given (per period or per trade). NaN without losses."""
    a = _arr(returns)
    return _div(float(a[a > 0].sum()), abs(float(a[a < 0].sum()))) if len(a) else math.nan


def win_rate_per_period(returns) -> float:
    """#(r > 0) / #(r != 0): flat periods are not counted (QuantStats' choice)."""
    a = _arr(returns)
    nz = int((a != 0).sum())
    return float((a > 0).sum() / nz) if nz else math.nan


def win_rate_per_trade(trade_returns) -> float:
    """#(PnL > 0) / #(closed trades); pass closed trades only."""
    a = _arr(trade_returns)
    return float((a > 0).mean()) if len(a) else math.nan


# ---------------------------------------------------------------------------------------
# significance (Bailey & Lopez de Prado)
# ---------------------------------------------------------------------------------------

def _moments(a: np.ndarray) -> tuple[float, float]:
    """Skewness g3 = m3 / m2^1.5 and RAW kurtosis g4 = m4 / m2^2 (3 for a normal), the biased moment estimators
    scipy.stats.skew and kurtosis(fisher=False) return (tests compare them); numpy, so a backtest imports no scipy."""
    if len(a) < 3 or _std(a) < _TINY:
        return math.nan, math.nan
    d = a - a.mean()
    m2, m3, m4 = (d ** 2).mean(), (d ** 3).mean(), (d ** 4).mean()
    return float(m3 / m2 ** 1.5), float(m4 / m2 ** 2)


def psr_from_stats(sr: float, n: int, skew: float, kurtosis_raw: float, sr_benchmark: float = 0.0) -> float:
    """PSR(SR*) = Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + ((g4 - 1) / 4) SR^2)).

    SR and SR* per period; g4 raw kurtosis. Example: SR = 0.1, T = 101, g3 = 0, g4 = 3
    -> Phi(1 / sqrt(1.005)) = 0.8407.
    """
    var = 1.0 - skew * sr + (kurtosis_raw - 1.0) / 4.0 * sr**2
    if not (np.isfinite(sr) and np.isfinite(var)) or var <= 0 or n < 2:
        return math.nan
    return float(_NORMAL.cdf((sr - sr_benchmark) * math.sqrt(n - 1) / math.sqrt(var)))


def probabilistic_sharpe_ratio(returns, *, sr_benchmark: float = 0.0) -> float:
    """Probability that the true per-period Sharpe exceeds sr_benchmark (per period), given
    the sample's length, skewness and raw kurtosis. QuantStats feeds excess kurtosis here and
    overstates PSR; this follows Bailey & Lopez de Prado (2012) / mlfinlab."""
    a = _arr(returns)
    g3, g4 = _moments(a)
    return psr_from_stats(sharpe_per_period(a), len(a), g3, g4, sr_benchmark)


def sharpe_standard_error(returns) -> float:
    """Standard error of the per-period Sharpe: sqrt((1 - g3 SR + (g4 - 1)/4 SR^2) / (T - 1))."""
    a = _arr(returns)
    sr = sharpe_per_period(a)
    g3, g4 = _moments(a)
    var = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr**2
    return math.sqrt(var / (len(a) - 1)) if np.isfinite(var) and var > 0 and len(a) > 1 else math.nan


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """SR_0 = sqrt(V) [(1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e))]; 0 for N = 1."""
    if n_trials <= 1:
        return 0.0
    if not np.isfinite(variance) or variance < 0:
        return math.nan
    z = (1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n_trials) + EULER_GAMMA * _NORMAL.inv_cdf(1 - 1 / (n_trials * math.e))
    return math.sqrt(variance) * float(z)


def deflated_sharpe_ratio(returns, *, n_trials: int, trial_sharpes: Sequence[float] | None = None) -> float:
    """DSR = PSR(SR_0), SR_0 the expected maximum per-period Sharpe of N independent trials.

    V is the variance (ddof = 1) of the trials' PER-PERIOD Sharpe ratios when
    `trial_sharpes` is given (N = max(n_trials, len(trial_sharpes))). Fallback without
    them: V = the squared standard error of this series' Sharpe, i.e. the trials are taken
    to differ only by estimation noise. N = 1 means no deflation: DSR = PSR(0).
    """
    n = int(n_trials)
    if trial_sharpes is not None and len(trial_sharpes) > 0:
        ts = _arr(trial_sharpes)
        n = max(n, len(ts))
        v = float(np.var(ts, ddof=1)) if len(ts) >= 2 else math.nan
    else:
        v = sharpe_standard_error(returns) ** 2
    return probabilistic_sharpe_ratio(returns, sr_benchmark=expected_max_sharpe(n, v))


def min_track_record_length(returns, *, sr_benchmark: float = 0.0, alpha: float = 0.05) -> float:
    """MinTRL = 1 + (1 - g3 SR + (g4 - 1)/4 SR^2) (Phi^-1(1 - alpha) / (SR - SR*))^2 periods;
    NaN unless SR > SR* (per period)."""
    a = _arr(returns)
    sr = sharpe_per_period(a)
    g3, g4 = _moments(a)
    if not np.isfinite(sr) or sr <= sr_benchmark or not np.isfinite(g4):
        return math.nan
    var = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr**2
    return float(1.0 + var * (_NORMAL.inv_cdf(1 - alpha) / (sr - sr_benchmark)) ** 2)


# ---------------------------------------------------------------------------------------
# bootstrap (Politis & Romano 1994 stationary bootstrap)
# ---------------------------------------------------------------------------------------

def stationary_bootstrap_indices(n: int, n_boot: int, mean_block: float, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) resampling indices: blocks of geometric length (mean `mean_block`), random
    starts, wrap-around at the end (so the ends are not under-sampled).

    Vectorised: the index advances by 1 each step and jumps at block starts, so it is a
    cumulative sum of increments that are 1 except at the (random) block starts.
    """
    size = n * n_boot
    new_block = rng.random(size) < 1.0 / max(float(mean_block), 1.0)
    new_block[::n] = True  # every replicate starts a block
    pos = np.flatnonzero(new_block)
    starts = rng.integers(0, n, size=len(pos))
    step = np.ones(size, dtype=np.int64)
    step[pos[0]] = starts[0]
    step[pos[1:]] = starts[1:] - starts[:-1] - (pos[1:] - pos[:-1]) + 1
    idx = np.cumsum(step)
    idx %= n
    return idx.reshape(n_boot, n)


def _optimal_block(a: np.ndarray) -> float:
    """Politis & White (2004) block length via arch, for mean_block="auto"."""
    try:
        from arch.bootstrap import optimal_block_length
    except ImportError:  # arch is a test/tooling dependency, not a runtime one
        raise ValueError('mean_block="auto" needs the arch package (pip install arch); '
                         "or pass a number of bars") from None

    return float(optimal_block_length(a)["stationary"].iloc[0])


def _resolve_block(a: np.ndarray, mean_block: float | str | None) -> float:
    if mean_block is None:
        return len(a) ** (1 / 3)
    if mean_block == "auto":
        return _optimal_block(a)
    return float(mean_block)


def _bootstrap_values(
    a: np.ndarray, statistics: Sequence[Callable[[np.ndarray], np.ndarray]], *, n_boot: int, mean_block: float, seed: int
) -> np.ndarray:
    """(len(statistics), n_boot) replicate values; each statistic maps (k, n) samples -> k values.

    Works in chunks of ~250k resampled points: fast (cache-sized) and bounded memory.
    """
    n = len(a)
    rng = np.random.default_rng(seed)
    out = np.empty((len(statistics), n_boot))
    chunk = max(1, 250_000 // n)
    for lo in range(0, n_boot, chunk):
        k = min(chunk, n_boot - lo)
        sample = a[stationary_bootstrap_indices(n, k, mean_block, rng)]
        for j, stat in enumerate(statistics):
            out[j, lo:lo + k] = stat(sample)
    return out


def _percentile_interval(vals: np.ndarray, alpha: float) -> tuple[float, float]:
    vals = vals[np.isfinite(vals)]
    if len(vals) == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(vals, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def bootstrap_ci(
    returns,
    statistic: Callable[[np.ndarray], float],
    *,
    n_boot: int = 2000,
    mean_block: float | str | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    vectorized: bool = False,
) -> tuple[float, float]:
    """Percentile (1 - alpha) interval of `statistic` under the stationary bootstrap
    (Politis & Romano 1994).

    mean_block: None -> n^(1/3); "auto" -> Politis & White (2004) via arch; or a number of
    bars. statistic takes a 1-D array of returns; with vectorized=True it takes a (k, n)
    array of resamples and returns k values (much faster). Same seed, same interval.
    """
    a = _arr(returns)
    if len(a) < 2 or n_boot < 1:
        return math.nan, math.nan
    stat = statistic if vectorized else (lambda s: np.array([statistic(row) for row in s], dtype=float))
    vals = _bootstrap_values(a, [stat], n_boot=n_boot, mean_block=_resolve_block(a, mean_block), seed=seed)
    return _percentile_interval(vals[0], alpha)


# ----------------------------------------------------------------------------- rank correlation

def _spearman_rows(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Vectorised statistic for bootstrap_ci: (k, n) resampled row indices -> k Spearman correlations."""
    from scipy.stats import rankdata

    def stat(rows: np.ndarray) -> np.ndarray:
        idx = rows.astype(np.int64)
        rx, ry = rankdata(x[idx], axis=1), rankdata(y[idx], axis=1)
        rx -= rx.mean(axis=1, keepdims=True)
        ry -= ry.mean(axis=1, keepdims=True)
        den = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, (rx * ry).sum(axis=1) / den, np.nan)
    return stat


def rank_correlation(x: Sequence[float], y: Sequence[float], *, n_boot: int = 1000, alpha: float = 0.05,
                     seed: int = 0, names: tuple[str, str] = ("x", "y"),
                     mean_block: float | None = None) -> dict:
    """Spearman correlation of paired series with a stationary-bootstrap percentile interval over pairs.

    Rows with a NaN in either series are dropped. When either series is constant the
    correlation is undefined: value and interval are NaN and `note` says why."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    out: dict = {"value": math.nan, "ci": [math.nan, math.nan], "n": int(len(x)), "method": "spearman",
                           "ci_level": 1 - alpha, "note": None, "mean_block": mean_block}
    if len(x) < 3:
        out["note"] = f"undefined: only {len(x)} paired values"
        return out
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        name, const = (names[0], x[0]) if np.ptp(x) == 0 else (names[1], y[0])
        out["note"] = f"undefined: {name} is constant ({const:g}) over all {len(x)} decisions"
        return out
    stat = _spearman_rows(x, y)
    rows = np.arange(len(x), dtype=np.float64)
    out["value"] = float(stat(rows[None, :])[0])
    out["ci"] = list(bootstrap_ci(rows, stat, n_boot=n_boot, alpha=alpha, seed=seed, vectorized=True,
                                  mean_block=mean_block))
    return out


def _sharpe_rows(periods_per_year: float, rf_per_period: float) -> Callable[[np.ndarray], np.ndarray]:
    def stat(x: np.ndarray) -> np.ndarray:
        x = x - rf_per_period
        sd = x.std(axis=1, ddof=1)
        out = np.full(len(x), np.nan)
        ok = sd >= _TINY
        out[ok] = x.mean(axis=1)[ok] / sd[ok] * math.sqrt(periods_per_year)
        return out

    return stat


def _cagr_rows(periods_per_year: float) -> Callable[[np.ndarray], np.ndarray]:
    def stat(x: np.ndarray) -> np.ndarray:
        w = np.prod(1.0 + x, axis=1)
        out = np.full(len(x), -1.0)
        ok = w > 0
        out[ok] = w[ok] ** (periods_per_year / x.shape[1]) - 1.0
        return out

    return stat


def metrics_with_ci(
    net_returns: pd.Series,
    *,
    periods_per_year: float,
    rf_annual: float = 0.0,
    n_boot: int = 2000,
    mean_block: float | str | None = None,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, float]:
    """Sharpe and annual return (CAGR) with stationary-bootstrap percentile intervals.

    Both intervals come from the same resamples (same seed), so they are coherent; they
    equal bootstrap_ci(...) of the same statistic with the same seed.
    """
    a = _arr(net_returns)
    level = round(100 * (1 - alpha))
    if len(a) >= 2 and n_boot >= 1:
        stats = [_sharpe_rows(periods_per_year, _per_period_rf(rf_annual, periods_per_year)), _cagr_rows(periods_per_year)]
        vals = _bootstrap_values(a, stats, n_boot=n_boot, mean_block=_resolve_block(a, mean_block), seed=seed)
        (s_lo, s_hi), (c_lo, c_hi) = _percentile_interval(vals[0], alpha), _percentile_interval(vals[1], alpha)
    else:
        s_lo = s_hi = c_lo = c_hi = math.nan
    return {
        "Sharpe": sharpe(a, periods_per_year=periods_per_year, rf_annual=rf_annual) if len(a) else math.nan,
        f"Sharpe CI {level}% low": s_lo,
        f"Sharpe CI {level}% high": s_hi,
        "Annual return [%]": 100 * cagr(a, periods_per_year=periods_per_year),
        f"Annual return CI {level}% low [%]": 100 * c_lo,
        f"Annual return CI {level}% high [%]": 100 * c_hi,
    }


# ---------------------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------------------

METRIC_DEFINITIONS: dict[str, str] = {
    "Periods": "Number of return observations T (bars) in the sample.",
    "Total return [%]": "Compounded net return over the sample, (prod(1 + r) - 1) x 100.",
    "Annual return [%]": "CAGR: (W_T / W_0)^(P / T) - 1 with W_0 = 1 and P periods per year.",
    "Annual volatility [%]": "Sample standard deviation of per-period returns (ddof = 1) x sqrt(P).",
    "Sharpe": "Annualised Sharpe: mean(r - rf) / s(r - rf) x sqrt(P), rf per period from the annual rate; assumes i.i.d. returns.",
    "Sortino": "mean(r - rf) / DD x sqrt(P), DD = sqrt(mean(min(r - rf, 0)^2)) over ALL periods (empyrical/QuantStats convention).",
    "Calmar": "CAGR / |max drawdown| over the full sample (not the classic 36 months).",
    "Information ratio": "Annualised: mean(r - b) / s(r - b) x sqrt(P) against the benchmark b (QuantStats' is not annualised).",
    "Max drawdown [%]": "Worst fall of equity from its running peak, with starting equity 1 included so a first-bar loss counts.",
    "Max drawdown duration [bars]": "Longest peak-to-recovery spell in bars; an episode still open at the end counts with its length so far.",
    "Drawdown open at end": "1 if equity is below its peak at the last bar (the longest duration may be censored), else 0.",
    "Win rate per trade [%]": "Share of CLOSED trades with positive compounded net return.",
    "Win rate per period [%]": "#(r > 0) / #(r != 0): flat periods are excluded (QuantStats' convention).",
    "Profit factor": "Sum of positive per-period returns / |sum of negative per-period returns|.",
    "Profit factor per trade": "Sum of winning closed-trade returns / |sum of losing closed-trade returns|.",
    "Exposure [%]": "Share of periods with a non-zero held position.",
    "Average |position|": "Mean absolute held position (fraction of equity).",
    "Turnover (two-way, annual)": "Sum of |traded weight| (drift-aware when the backtest frame is given) per year; one-way is half.",
    "Skew": "Sample skewness of per-period returns (biased estimator, scipy default).",
    "Kurtosis (raw)": "Raw (non-excess) kurtosis of per-period returns: 3 for a normal distribution.",
    "PSR (SR*=0)": "Probabilistic Sharpe ratio: probability the true Sharpe exceeds 0, from T, skew and raw kurtosis (Bailey & Lopez de Prado 2012).",
    "DSR": "Deflated Sharpe ratio: PSR against the expected best Sharpe of the N configurations tried (Bailey & Lopez de Prado 2014).",
    "Trials (N)": "Number of configurations tried, used to deflate the Sharpe ratio.",
    "Min track record [periods]": "Periods needed for 95 % confidence that the true Sharpe exceeds 0 (NaN if the Sharpe is not positive).",
    "Trades": "Number of trades (runs of same-sign non-zero position), closed and open.",
    "Benchmark annual return [%]": "CAGR of the benchmark over the same periods.",
    "Benchmark Sharpe": "Annualised Sharpe of the benchmark over the same periods.",
}


def compute_metrics(
    net_returns: pd.Series,
    *,
    periods_per_year: float,
    benchmark: pd.Series | None = None,
    rf_annual: float = 0.0,
    positions: pd.Series | None = None,
    trades: pd.DataFrame | None = None,
    n_trials: int = 1,
    trial_sharpes: Sequence[float] | None = None,
    turnover: pd.Series | None = None,
) -> dict[str, float]:
    """Every statistic of a net return series, as a flat {key with units: float} dict.

    positions: held position per bar (exposure; turnover when `turnover` is not given,
    then without drift). turnover: per-bar two-way turnover from the backtest frame.
    trades: the backtest trade list (per-trade win rate / profit factor on closed trades).
    Keys missing their input are NaN, so the table always has the same rows.
    """
    if periods_per_year <= 0:
        raise ValueError(f"periods_per_year must be > 0, got {periods_per_year}: use periods_per_year('1d') etc.")
    r = _arr(net_returns)
    T = len(r)
    P = float(periods_per_year)
    nan = math.nan
    m: dict[str, float] = {"Periods": float(T)}
    m["Total return [%]"] = 100 * (float(np.prod(1 + r)) - 1) if T else nan
    m["Annual return [%]"] = 100 * cagr(r, periods_per_year=P)
    m["Annual volatility [%]"] = 100 * annual_volatility(r, periods_per_year=P)
    m["Sharpe"] = sharpe(r, periods_per_year=P, rf_annual=rf_annual)
    m["Sortino"] = sortino(r, periods_per_year=P, rf_annual=rf_annual)
    m["Calmar"] = calmar(r, periods_per_year=P)
    if benchmark is not None:
        b = _aligned(benchmark, net_returns, "benchmark")
        m["Information ratio"] = information_ratio(r, b, periods_per_year=P)
        m["Benchmark annual return [%]"] = 100 * cagr(b, periods_per_year=P)
        m["Benchmark Sharpe"] = sharpe(b, periods_per_year=P, rf_annual=rf_annual)
    else:
        m["Information ratio"] = m["Benchmark annual return [%]"] = m["Benchmark Sharpe"] = nan
    m["Max drawdown [%]"] = 100 * max_drawdown(r)
    dur, is_open = drawdown_duration(r)
    m["Max drawdown duration [bars]"] = dur
    m["Drawdown open at end"] = float(is_open) if T else nan

    if trades is not None and len(trades):
        closed = trades.loc[~trades["open"].astype(bool), "pnl_return"].to_numpy(dtype=float)
        m["Win rate per trade [%]"] = 100 * win_rate_per_trade(closed)
        m["Profit factor per trade"] = profit_factor(closed)
        m["Trades"] = float(len(trades))
    else:
        m["Win rate per trade [%]"] = m["Profit factor per trade"] = nan
        m["Trades"] = 0.0 if trades is not None else nan
    m["Win rate per period [%]"] = 100 * win_rate_per_period(r)
    m["Profit factor"] = profit_factor(r)

    if positions is not None and T:
        w = _aligned(positions, net_returns, "positions")
        m["Exposure [%]"] = 100 * float((w != 0).mean())
        m["Average |position|"] = float(np.abs(w).mean())
        traded = _aligned(turnover, net_returns, "turnover") if turnover is not None else np.abs(np.diff(w, prepend=0.0))
        m["Turnover (two-way, annual)"] = float(traded.sum()) * P / T
    else:
        m["Exposure [%]"] = m["Average |position|"] = nan
        m["Turnover (two-way, annual)"] = (
            float(_aligned(turnover, net_returns, "turnover").sum()) * P / T if turnover is not None and T else nan
        )

    g3, g4 = _moments(r)
    m["Skew"], m["Kurtosis (raw)"] = g3, g4
    m["PSR (SR*=0)"] = probabilistic_sharpe_ratio(r)
    m["DSR"] = deflated_sharpe_ratio(r, n_trials=n_trials, trial_sharpes=trial_sharpes)
    m["Trials (N)"] = float(max(n_trials, len(trial_sharpes) if trial_sharpes is not None else 0))
    m["Min track record [periods]"] = min_track_record_length(r)
    return {k: m[k] for k in METRIC_DEFINITIONS if k in m}


def backtest_metrics(result, *, periods_per_year: float, benchmark: pd.Series | None = None, **kw) -> dict[str, float]:
    """compute_metrics wired to a `BacktestResult`: net returns, held positions, drift-aware turnover, trades.

    benchmark defaults to buy & hold of the same asset (the frame's asset_return).
    """
    f = result.frame
    return compute_metrics(
        f["net_return"], periods_per_year=periods_per_year,
        benchmark=f["asset_return"] if benchmark is None else benchmark,
        positions=f["position"], turnover=f["turnover"], trades=result.trades, **kw,
    )


def _aligned(x, like: pd.Series, name: str) -> np.ndarray:
    """Values of x on the index of `like` (Series must share the index; arrays must share the length)."""
    if isinstance(x, pd.Series) and isinstance(like, pd.Series) and not x.index.equals(like.index):
        raise ValueError(f"{name} is on a different index than net_returns: reindex it to net_returns.index first")
    a = _arr(x)
    if len(a) != len(like):
        raise ValueError(f"{name} has {len(a)} rows, net_returns {len(like)}: pass them on the same bars")
    return a
