"""Drift statistics and their calibration: how unusual is this window, judged against its own null.

Effect sizes (REFERENCE "PSI", "Monitoring"):

- **PSI** = sum (a_i - e_i) ln(a_i / e_i) over PSI_BINS bins whose inner edges are the
  reference's deciles (outer edges -inf, +inf; tied deciles merged); shares floored at PSI_FLOOR.
  Categorical outputs (action, ACT depth) use one bin per category.
- **KS**: `scipy.stats.ks_2samp` statistic D and p-value, reported only: it assumes independent
  samples, and a window of an autocorrelated series is not one.

Why calibrate: the textbook PSI thresholds (0.1 / 0.25) and the KS p-value assume independent
draws. A 40-bar window of a slow feature (20-bar volatility, 60-bar return) fills only one or two
reference deciles even when nothing has changed, so its PSI is 2-5 on in-distribution data and
the fixed thresholds alarm on every window.

The null: every contiguous window of the same length inside the reference period (all start
points: the moving blocks keep each feature's autocorrelation exactly as it was), each judged
against the reference WITHOUT that window and MARGIN_BARS on each side, as a live window is judged
against a reference it is not part of. A window's calibrated p-value is
p = (1 + #{null statistic >= observed}) / (1 + #null).

The feature family (`FeatureCalibration`), one verdict for the book's model inputs:
- PSI of each of the 15 features (a changed distribution), weight PSI_WEIGHT / 15 each;
- a volatility jump: log(mean daily range log(high / low) in the window / its mean over the
  JUMP_BARS before it), upper tail: volatility rising against the book's own recent past, which the
  training period's crises make invisible to a test of levels. The range is a far less noisy
  volatility estimate than the sd of returns (|1-bar log return| stands in where the data has no
  real high and low). Weight VOL_JUMP_WEIGHT;
- a volume jump: |log(median volume in the window / median over the JUMP_BARS before it)| (a
  vendor's unit change, which the 20-bar volume z-score hides after 20 bars), weight
  VOLUME_JUMP_WEIGHT.
A test fires at family-wise level alpha when p <= alpha x its weight (weighted Bonferroni: the
weights sum to 1, so the chance that any test fires on in-distribution data is <= alpha, whatever
their correlation): amber at alpha = 5 %, red at alpha = 1 %. Where the null is too short to
resolve alpha x weight (long windows: 14 years hold only about 14 disjoint 250-bar windows), a
window beyond every null window is amber ("outside anything in the reference"), never red; this
adds at most k / (1 + #null) to the amber rate (`amber_bound`). Separately, a feature that is
constant over the window although it never was over a window of the reference is a stuck input:
red, a data fault rather than a statistical call.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

PSI_BINS = 10  # reference deciles
PSI_FLOOR = 1e-4  # share floor in each bin, so an empty bin gives a finite PSI
LEVELS = {"amber": 0.05, "red": 0.01}  # family-wise false-alarm rate of each status
PSI_WEIGHT = 0.3  # share of alpha spent on the 15 feature PSIs together (a real shift is far in their tail)
VOL_JUMP_WEIGHT = 0.55  # a tripling of volatility sits near the tail of the training period's own crises
VOLUME_JUMP_WEIGHT = 0.15
JUMP_BARS = 250  # the book's own recent past a jump is measured against
MARGIN_BARS = 60  # bars left out on each side of a null window: the longest feature lookback
MIN_NULL_WINDOWS = 100  # fewer reference windows than this: the null cannot resolve the levels, no alert


def psi_edges(reference: np.ndarray, bins: int = PSI_BINS) -> np.ndarray:
    """Inner bin edges: the reference's quantiles 1/bins .. (bins-1)/bins, ties merged (outer edges are +-inf)."""
    ref = reference[np.isfinite(reference)]
    return np.unique(np.quantile(ref, np.arange(1, bins) / bins)) if len(ref) else np.array([])


def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index of `current` against `reference` (REFERENCE "PSI"); NaN if either is empty."""
    ref, cur = (np.asarray(x, dtype=float) for x in (reference, current))
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if len(ref) == 0 or len(cur) == 0:
        return math.nan
    edges = psi_edges(ref, bins)
    e = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1) / len(ref)
    a = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1) / len(cur)
    return float(_psi_rows(e, a[None])[0])


def categorical_psi(reference: pd.Series, current: pd.Series, categories) -> float:
    """PSI with one bin per category (action mix, ACT depth)."""
    if len(reference) == 0 or len(current) == 0:
        return math.nan
    e = reference.value_counts(normalize=True).reindex(categories, fill_value=0.0).to_numpy()
    a = current.value_counts(normalize=True).reindex(categories, fill_value=0.0).to_numpy()
    return float(_psi_rows(e, a[None])[0])


def _psi_rows(e: np.ndarray, a: np.ndarray) -> np.ndarray:
    """PSI of each row of shares `a` (k, bins) against the reference shares `e` (bins,) or (k, bins)."""
    e, a = np.maximum(e, PSI_FLOOR), np.maximum(a, PSI_FLOOR)
    return np.sum((a - e) * np.log(a / e), axis=1)


def ks(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """(D, p-value) of the two-sample Kolmogorov-Smirnov test; NaNs dropped."""
    ref, cur = (np.asarray(x, dtype=float) for x in (reference, current))
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if len(ref) == 0 or len(cur) == 0:
        return math.nan, math.nan
    from scipy.stats import ks_2samp  # about 1 s of imports: the Model health page paints without it

    res = ks_2samp(ref, cur)
    return float(res.statistic), float(res.pvalue)


def window_psis(reference: np.ndarray, window: int, *, categories=None, margin: int | None = None) -> np.ndarray:
    """PSI of every contiguous `window`-long stretch of `reference` against the whole of it (the null).

    NaN entries (warm-up, masked artefacts) are left out of both sides; a stretch with fewer than half
    its entries finite is skipped. `categories`: one bin per category instead of deciles."""
    x = np.asarray(reference)
    margin = max(window, MARGIN_BARS) if margin is None else margin
    if categories is None:
        x = x.astype(float)
        ok = np.isfinite(x)
        edges = psi_edges(x[ok])
        bin_of = np.where(ok, np.searchsorted(edges, np.where(ok, x, 0.0), side="right"), -1)
        n_bins = len(edges) + 1
    else:
        lookup = {c: i for i, c in enumerate(categories)}
        bin_of = np.array([lookup.get(v, -1) for v in x])
        ok, n_bins = bin_of >= 0, len(categories)
    if ok.sum() == 0 or len(x) < window:
        return np.empty(0)
    onehot = np.zeros((len(x) + 1, n_bins))
    onehot[1:][ok, bin_of[ok]] = 1.0
    cum = np.cumsum(onehot, axis=0)
    starts = np.arange(len(x) - window + 1)
    counts = cum[starts + window] - cum[starts]  # (n_windows, bins)
    # The reference each window is judged against leaves out the window and `margin` bars on each side,
    # as a live window is judged against a reference it is not part of (in-sample nulls are too kind).
    lo, hi = np.clip(starts - margin, 0, len(x)), np.clip(starts + window + margin, 0, len(x))
    rest = cum[-1] - (cum[hi] - cum[lo])
    n, n_rest = counts.sum(axis=1), rest.sum(axis=1)
    keep = (n >= window / 2) & (n_rest >= window)
    return _psi_rows(rest[keep] / n_rest[keep, None], counts[keep] / n[keep, None])


@dataclass(frozen=True)
class Null:
    """Sorted null PSIs of one variable for one window length."""

    psis: np.ndarray

    @property
    def n(self) -> int:
        return len(self.psis)

    def p_value(self, value: float) -> float:
        if not math.isfinite(value) or self.n == 0:
            return math.nan
        above = self.n - np.searchsorted(self.psis, value, side="left")
        return float((1 + above) / (1 + self.n))

    def threshold(self, alpha: float) -> float:
        """The statistic a window must reach for p <= alpha (the null's largest value when it cannot resolve alpha)."""
        if self.n == 0 or alpha < 1.0 / (1 + self.n):
            return float(self.psis[-1]) if self.n else math.nan
        return float(np.quantile(self.psis, 1 - alpha))


def null_of(reference, window: int, *, categories=None) -> Null:
    return Null(np.sort(window_psis(np.asarray(reference), window, categories=categories)))


def status_of(p_value: float, weight: float, null: Null, levels: dict = LEVELS) -> str:
    """green / amber / red for one test spending `weight` of each level's alpha (module docstring)."""
    if not math.isfinite(p_value) or null.n < MIN_NULL_WINDOWS:
        return "green"
    if p_value <= levels["red"] * weight:
        return "red"
    beyond_all = p_value <= 1.0 / (1 + null.n)  # further out than every reference window: the null cannot say more
    return "amber" if p_value <= levels["amber"] * weight or beyond_all else "green"


def drift_row(reference, current, null: Null, weight: float, *, categories=None, levels: dict = LEVELS) -> dict:
    """One variable's effect sizes (PSI, KS), calibrated p-value, thresholds and status."""
    if categories is None:
        cur = np.asarray(current, float)
        if np.isfinite(cur).sum() < len(cur) / 2:  # as in the null: too few measured values (masked artefacts)
            cur = np.empty(0)
        value = psi(np.asarray(reference, float), cur)
        d, p_ks = ks(reference, cur)
    else:
        value = categorical_psi(pd.Series(reference), pd.Series(current), categories)
        d = p_ks = math.nan
    p = null.p_value(value)
    return {"psi": value, "p_value": p, "amber_at": null.threshold(levels["amber"] * weight),
            "red_at": null.threshold(levels["red"] * weight), "null_windows": null.n, "ks_d": d, "ks_p": p_ks,
            "status": status_of(p, weight, null, levels)}


# ----------------------------------------------------------------------------- the feature family

def jump_statistics(bars: pd.DataFrame, window: int) -> pd.DataFrame:
    """Per bar t (the last bar of a window): volatility jump and volume jump of the `window` bars ending
    at t against the JUMP_BARS before them (NaN where that history or the volume is missing)."""
    r = np.log(bars["close"].astype(float)).diff()
    span = np.log(bars["high"].astype(float) / bars["low"].astype(float))
    move = span if (span > 0).mean() > 0.9 else r.abs()  # daily range, unless the data has no real high/low
    vol_now = move.rolling(window, min_periods=window // 2).mean()
    vol_before = move.shift(window).rolling(JUMP_BARS, min_periods=JUMP_BARS // 2).mean()
    v = bars["volume"].astype(float).where(bars["volume"] > 0)
    med_now = v.rolling(window, min_periods=window // 2).median()
    med_before = v.shift(window).rolling(JUMP_BARS, min_periods=JUMP_BARS // 2).median()
    return pd.DataFrame({"volatility jump": np.log(vol_now / vol_before),
                         "volume jump": np.log(med_now / med_before).abs()}, index=bars.index)


JUMP_WEIGHTS = {"volatility jump": VOL_JUMP_WEIGHT, "volume jump": VOLUME_JUMP_WEIGHT}


@dataclass(frozen=True)
class FeatureCalibration:
    """The null of every test in the feature family for one window length over one reference period."""

    window: int
    reference: pd.DataFrame  # feature rows of the reference period (artefacts masked)
    psi_nulls: dict[str, Null]
    jump_nulls: dict[str, Null]
    min_sd: dict[str, float]  # the smallest sd of each feature over a reference window

    @property
    def n_tests(self) -> int:
        return len(self.psi_nulls) + len(self.jump_nulls)

    def amber_bound(self, levels: dict = LEVELS) -> float:
        """The family-wise amber-or-red rate on in-distribution data is at most this (module docstring)."""
        k = len(self.psi_nulls)
        tests = [(n, PSI_WEIGHT / k) for n in self.psi_nulls.values()]
        tests += [(self.jump_nulls[name], w) for name, w in JUMP_WEIGHTS.items()]
        return float(sum(max(levels["amber"] * w, 1.0 / (1 + n.n)) for n, w in tests if n.n))

    @property
    def n_windows(self) -> int:
        return min((n.n for n in self.psi_nulls.values()), default=0)


def calibrate_features(features: pd.DataFrame, bars: pd.DataFrame, reference_mask: np.ndarray,
                       window: int) -> FeatureCalibration:
    """Nulls of the feature family: `features` and `bars` aligned (full history), the reference rows masked."""
    ref = features[reference_mask]
    psi_nulls = {name: null_of(ref[name].to_numpy(), window) for name in features.columns}
    jumps = jump_statistics(bars, window)
    # windows wholly inside the reference (their history before it may come from earlier bars)
    starts_inside = np.concatenate([np.zeros(window - 1, bool), reference_mask[: len(reference_mask) - window + 1]])
    inside = reference_mask & starts_inside
    jump_nulls = {name: Null(np.sort(jumps[name].to_numpy()[inside & np.isfinite(jumps[name].to_numpy())]))
                  for name in JUMP_WEIGHTS}
    sds = ref.rolling(window, min_periods=window // 2).std()
    min_sd = {name: float(np.nanmin(sds[name].to_numpy())) if np.isfinite(sds[name]).any() else math.nan
              for name in features.columns}
    return FeatureCalibration(window=window, reference=ref, psi_nulls=psi_nulls, jump_nulls=jump_nulls,
                              min_sd=min_sd)


def feature_family(cal: FeatureCalibration, current: pd.DataFrame, jumps: dict[str, float], *,
                   levels: dict = LEVELS) -> pd.DataFrame:
    """Every test of the family on one window: `current` its feature rows, `jumps` its jump statistics."""
    k = len(cal.psi_nulls)
    rows = {}
    for name, null in cal.psi_nulls.items():
        row = drift_row(cal.reference[name].to_numpy(), current[name].to_numpy(), null, PSI_WEIGHT / k, levels=levels)
        values = current[name].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if len(values) >= cal.window // 2 and np.ptp(values) == 0 and cal.min_sd[name] > 0:
            row.update(status="red", stuck=True)  # constant here, never constant over a reference window
        rows[name] = {"test": "distribution (PSI)", "stuck": False, "value": row["psi"], **row}
    for name, weight in JUMP_WEIGHTS.items():
        null, value = cal.jump_nulls[name], float(jumps.get(name, math.nan))
        p = null.p_value(value)
        rows[name] = {"test": "jump vs the previous year", "stuck": False, "psi": math.nan, "value": value,
                      "p_value": p, "amber_at": null.threshold(levels["amber"] * weight),
                      "red_at": null.threshold(levels["red"] * weight), "null_windows": null.n,
                      "ks_d": math.nan, "ks_p": math.nan, "status": status_of(p, weight, null, levels)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("variable")


__all__ = ["FeatureCalibration", "JUMP_BARS", "JUMP_WEIGHTS", "LEVELS", "MIN_NULL_WINDOWS", "Null", "PSI_BINS",
           "PSI_FLOOR", "calibrate_features", "categorical_psi", "drift_row", "feature_family", "jump_statistics",
           "ks", "null_of", "psi", "psi_edges", "status_of", "window_psis"]
