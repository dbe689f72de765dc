"""OHLCV bars -> causal feature matrix, model windows and direction labels.

Causal by construction: every feature is a trailing pandas rolling window or a
shift into the past (never centred, never back-filled, no full-sample statistic),
so the row for bar t reads bars <= t only. Each feature also has a finite memory
(its documented lookback), so a row is the same whether it is computed on ten
years of history or on the last WARMUP_BARS + 1 bars, which is what live trading
needs. Normalisation (`Scaler`) is fit by the caller on the training period only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from hrm_core.errors import InsufficientDataError, InvalidBarsError

FEATURE_VERSION = "1"  # bump whenever a definition below changes: old scalers/checkpoints are then rejected

# name -> (lookback, definition). Lookback = how many bars before t the row for t reads,
# i.e. the feature is first defined at row index `lookback`. "vol_20" below is the
# 20-bar std of 1-bar log returns (not annualised), floored at VOL_FLOOR.
FEATURE_DOCS: dict[str, tuple[int, str]] = {
    "ret_1": (1, "log return close[t] / close[t-1]"),
    "ret_5": (5, "log return close[t] / close[t-5]"),
    "ret_20": (20, "log return close[t] / close[t-20]"),
    "ret_60": (60, "log return close[t] / close[t-60]"),
    "range_hl": (0, "intrabar range (high - low) / close"),
    "gap": (1, "overnight gap, log open[t] / close[t-1]; 0 where the data has no real open (open = previous "
               "close in a run, hrm_core.data.quality), which is the value that formula gives there"),
    "close_loc": (0, "where the close sits in the bar: -1 at the low, +1 at the high, 0 if high == low"),
    "vol_20": (20, "realised volatility: std of the last 20 one-bar log returns"),
    "vol_ratio_5_60": (60, "log of 5-bar over 60-bar realised volatility (> 0: volatility rising)"),
    "volume_z_20": (19, "z-score of log(1 + volume) within the last 20 bars; 0 when volume is constant or zero"),
    "rsi_14": (14, "RSI over 14 bars (simple averages of up/down log moves) rescaled to [-1, 1]"),
    "sma_dist_20": (20, "log close / SMA(20) in units of vol_20"),
    "sma_dist_50": (49, "log close / SMA(50) in units of vol_20"),
    "macd_12_26": (25, "MACD-like trend: log SMA(12) / SMA(26) in units of vol_20"),
    "drawdown_60": (59, "log close / max close of the last 60 bars (<= 0)"),
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURE_DOCS)
FEATURE_LOOKBACKS: dict[str, int] = {name: lb for name, (lb, _) in FEATURE_DOCS.items()}
WARMUP_BARS: int = max(FEATURE_LOOKBACKS.values())  # rows [0, WARMUP_BARS) are NaN; row WARMUP_BARS is the first full row

DIRECTION_CLASSES: tuple[str, ...] = ("short", "flat", "long")  # class ids 0, 1, 2

VOL_FLOOR = 1e-6  # per-bar log-return vol; keeps "units of vol" finite on a flat (e.g. halted) price
STD_FLOOR = 1e-8  # Scaler: a feature constant over the training period maps to 0 instead of inf
BAR_COLUMNS = ("open", "high", "low", "close", "volume")


def _check_bars(bars: pd.DataFrame) -> None:
    """Fail early on frames that are not bars at all; full validation lives in hrm_core.data.market."""
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise InvalidBarsError(f"bars lack column(s) {missing}: expected {list(BAR_COLUMNS)}")
    if not bars.index.is_monotonic_increasing:
        raise InvalidBarsError("bars are not sorted by time: sort the index (and drop duplicates) first")


def _raw_features(bars: pd.DataFrame) -> pd.DataFrame:
    """All features, each NaN only for its own lookback (compute_features masks to the common warm-up)."""
    _check_bars(bars)
    o, h, lo, c, v = (bars[k].astype("float64") for k in BAR_COLUMNS)
    log_c = np.log(c)
    r1 = log_c.diff()  # r1[t] reads close[t-1]: a window of n returns ending at t reads n + 1 closes

    def roll(s: pd.Series, n: int) -> pd.api.typing.Rolling:
        return s.rolling(n, min_periods=n)  # trailing window ending at t; NaN until n values exist

    vol_5, vol_20, vol_60 = (roll(r1, n).std() for n in (5, 20, 60))
    vol_20f = vol_20.clip(lower=VOL_FLOOR)

    # Volume z-score on log volume (volume is heavy-tailed). pandas returns an exact 0 std
    # for a window of identical values, so zero-volume indices give 0, never 0/0.
    lv = np.log1p(v.clip(lower=0.0))
    lv_mean, lv_std = roll(lv, 20).mean(), roll(lv, 20).std()
    volume_z = ((lv - lv_mean) / lv_std).where(lv_std > 1e-8, 0.0).where(lv_std.notna())

    # Cutler's RSI (simple means, not Wilder's EMA) so the feature keeps a finite memory;
    # (up - down) / (up + down) == (RSI - 50) / 50.
    up, down = roll(r1.clip(lower=0.0), 14).mean(), roll((-r1).clip(lower=0.0), 14).mean()
    rsi = ((up - down) / (up + down)).where(up + down > 1e-12, 0.0).where(up.notna())

    span = h - lo
    close_loc = (2.0 * (c - lo) / span.where(span > 0) - 1.0).fillna(0.0)  # fillna is per row, not in time

    out = {
        "ret_1": r1,
        "ret_5": log_c.diff(5),
        "ret_20": log_c.diff(20),
        "ret_60": log_c.diff(60),
        "range_hl": span / c,
        "gap": np.log(o / c.shift(1)),
        "close_loc": close_loc,
        "vol_20": vol_20,
        "vol_ratio_5_60": np.log(vol_5.clip(lower=VOL_FLOOR) / vol_60.clip(lower=VOL_FLOOR)),
        "volume_z_20": volume_z,
        "rsi_14": rsi,
        "sma_dist_20": np.log(c / roll(c, 20).mean()) / vol_20f,
        "sma_dist_50": np.log(c / roll(c, 50).mean()) / vol_20f,
        "macd_12_26": np.log(roll(c, 12).mean() / roll(c, 26).mean()) / vol_20f,
        "drawdown_60": np.log(c / roll(c, 60).max()),
    }
    return pd.DataFrame({k: out[k].to_numpy(dtype="float64") for k in FEATURE_NAMES}, index=bars.index)


def compute_features(bars: pd.DataFrame) -> pd.DataFrame:
    """Bars -> float64 features (columns FEATURE_NAMES, same index); the first WARMUP_BARS rows are all NaN."""
    x = _raw_features(bars).to_numpy(copy=True)
    # One common warm-up so a row is either fully defined or fully NaN (make_windows relies on it).
    x[:WARMUP_BARS] = np.nan
    return pd.DataFrame(x, index=bars.index, columns=list(FEATURE_NAMES))


@dataclass(eq=False)
class Scaler:
    """Per-feature z-score fit on the training period, clipped to [-clip, clip]; travels inside checkpoints."""

    mean: np.ndarray
    std: np.ndarray
    names: tuple[str, ...]
    clip: float = 5.0

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=np.float64)
        self.std = np.asarray(self.std, dtype=np.float64)
        self.names = tuple(str(n) for n in self.names)
        self.clip = float(self.clip)
        n = len(self.names)
        if self.mean.shape != (n,) or self.std.shape != (n,):
            raise ValueError(f"Scaler needs one mean and one std per feature: {n} names, "
                             f"mean {self.mean.shape}, std {self.std.shape}")
        if not (np.isfinite(self.mean).all() and np.isfinite(self.std).all() and (self.std > 0).all()):
            raise ValueError("Scaler mean/std must be finite and std > 0")
        if not self.clip > 0:
            raise ValueError(f"Scaler clip must be > 0, got {self.clip}")

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Scaler) and self.names == other.names and self.clip == other.clip
                and np.array_equal(self.mean, other.mean) and np.array_equal(self.std, other.std))

    @classmethod
    def fit(cls, features: pd.DataFrame, *, clip: float = 5.0) -> Scaler:
        """Fit on the rows given (pass the training period only); rows with any NaN are ignored."""
        x = features.to_numpy(dtype=np.float64)
        x = x[np.isfinite(x).all(axis=1)]
        if len(x) == 0:
            raise ValueError("Scaler.fit got no complete feature rows: pass training rows after the "
                             f"feature warm-up (the first {WARMUP_BARS} rows are NaN)")
        return cls(mean=x.mean(axis=0), std=np.maximum(x.std(axis=0), STD_FLOOR),
                   names=tuple(features.columns), clip=clip)

    def transform(self, features: pd.DataFrame) -> pd.DataFrame:
        """Z-score each column and clip to [-clip, clip]; NaN stays NaN (warm-up rows)."""
        missing = [n for n in self.names if n not in features.columns]
        if missing:
            raise ValueError(f"features lack column(s) {missing} that the scaler was fit on")
        x = features[list(self.names)].to_numpy(dtype=np.float64)
        z = np.clip((x - self.mean) / self.std, -self.clip, self.clip)  # np.clip keeps NaN
        return pd.DataFrame(z, index=features.index, columns=list(self.names))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (plain lists and floats) to store inside a checkpoint."""
        return {"names": list(self.names), "mean": [float(m) for m in self.mean],
                "std": [float(s) for s in self.std], "clip": self.clip, "feature_version": FEATURE_VERSION}

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, expected_names: tuple[str, ...] = FEATURE_NAMES) -> Scaler:
        """Rebuild from to_dict(); raises ValueError if the stored features differ from this code's."""
        try:
            names = tuple(d["names"])
            mean, std = d["mean"], d["std"]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a stored Scaler (needs 'names', 'mean', 'std'): {exc!r}") from None
        if names != tuple(expected_names):
            missing = [n for n in expected_names if n not in names]
            extra = [n for n in names if n not in expected_names]
            raise ValueError(
                f"scaler was fit on features {list(names)} (feature version {d.get('feature_version', '?')}) "
                f"but this code computes {list(expected_names)} (version {FEATURE_VERSION}); "
                f"missing {missing}, unexpected {extra}{', order differs' if not (missing or extra) else ''}. "
                "Refit the scaler / retrain the model with the current features.")
        return cls(mean=np.asarray(mean, dtype=np.float64), std=np.asarray(std, dtype=np.float64),
                   names=names, clip=float(d.get("clip", 5.0)))


def make_windows(matrix: np.ndarray, window: int, *, copy: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """[T, F] -> (windows float32 [N, W, F], end_idx int64 [N]); window i is rows end_idx[i]-W+1 .. end_idx[i].

    Only windows whose rows are all finite are kept. copy=False returns a read-only
    strided view when the kept windows are consecutive (saves N*W*F*4 bytes).
    """
    m = np.asarray(matrix)
    if m.ndim != 2:
        raise ValueError(f"make_windows needs a [T, F] matrix, got shape {m.shape}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    m = m.astype(np.float32, copy=False)
    t_len, n_feat = m.shape
    if t_len < window:
        return np.empty((0, window, n_feat), np.float32), np.empty(0, np.int64)

    # Count of finite rows in each trailing window via a cumulative sum: O(T), no [N, W] temporary.
    good = np.concatenate(([0], np.cumsum(np.isfinite(m).all(axis=1), dtype=np.int64)))
    ends = np.arange(window - 1, t_len, dtype=np.int64)
    end_idx = ends[good[ends + 1] - good[ends + 1 - window] == window]

    view = sliding_window_view(m, window, axis=0).transpose(0, 2, 1)  # [T-W+1, W, F], view ending at start+W-1
    starts = end_idx - (window - 1)
    if len(starts) and starts[-1] - starts[0] + 1 == len(starts):
        windows = view[starts[0]: starts[-1] + 1]  # consecutive: slice, no fancy-index temporary
    else:
        windows = view[starts]
    if copy:
        windows = np.ascontiguousarray(windows)  # no-op after fancy indexing, which already copied
    return windows, end_idx


def make_labels(bars: pd.DataFrame, horizon: int = 5, threshold_k: float = 0.5,
                vol_lookback: int = 20) -> pd.DataFrame:
    """Forward return over `horizon` bars and its direction class, with a causal volatility threshold.

    fwd_return[t] = close[t+h] / close[t] - 1 (NaN for the last h rows).
    direction[t] = 2 (long) if fwd_return > k * sigma_t * sqrt(h), 0 (short) if < -k * sigma_t * sqrt(h),
    else 1 (flat); sigma_t = sample std (ddof=1) of the last `vol_lookback` one-bar simple returns up to t,
    so only the label's *outcome* looks ahead, never its threshold. NaN where either is undefined.
    """
    if horizon < 1 or vol_lookback < 2 or threshold_k < 0:
        raise ValueError(f"need horizon >= 1, vol_lookback >= 2, threshold_k >= 0; "
                         f"got {horizon}, {vol_lookback}, {threshold_k}")
    _check_bars(bars)
    close = bars["close"].astype("float64")
    fwd = (close.shift(-horizon) / close - 1.0).to_numpy()
    sigma = close.pct_change().rolling(vol_lookback, min_periods=vol_lookback).std().to_numpy()
    thr = threshold_k * sigma * math.sqrt(horizon)
    direction = np.where(fwd > thr, 2.0, np.where(fwd < -thr, 0.0, 1.0))
    direction[~(np.isfinite(fwd) & np.isfinite(sigma))] = np.nan
    return pd.DataFrame({"fwd_return": fwd, "direction": direction}, index=bars.index)


@dataclass(frozen=True)
class FeatureSpec:
    """What a checkpoint must record to rebuild its inputs and labels exactly."""

    names: tuple[str, ...] = FEATURE_NAMES
    version: str = FEATURE_VERSION
    window: int = 64
    horizon: int = 5
    threshold_k: float = 0.5
    warmup: int = WARMUP_BARS
    vol_lookback: int = 20  # label threshold's volatility window

    @property
    def min_bars(self) -> int:
        """Bars needed for one complete model window: the feature warm-up plus the window."""
        return self.warmup + self.window

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for checkpoints and model cards."""
        return {"names": list(self.names), "version": self.version, "window": self.window,
                "horizon": self.horizon, "threshold_k": self.threshold_k, "warmup": self.warmup,
                "vol_lookback": self.vol_lookback}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        """Inverse of to_dict; raises ValueError on missing keys."""
        try:
            return cls(names=tuple(d["names"]), version=str(d["version"]), window=int(d["window"]),
                       horizon=int(d["horizon"]), threshold_k=float(d["threshold_k"]),
                       warmup=int(d["warmup"]), vol_lookback=int(d.get("vol_lookback", 20)))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a stored FeatureSpec: {exc!r}") from None

    def check_matches_code(self) -> None:
        """Raise ValueError if this spec was made with different features than this code computes, or its
        sizes are beyond what this code runs (horizon, vol_lookback, window)."""
        if self.names != FEATURE_NAMES or self.version != FEATURE_VERSION:
            raise ValueError(f"model expects features {list(self.names)} (version {self.version}) but this code "
                             f"computes {list(FEATURE_NAMES)} (version {FEATURE_VERSION}): retrain the model")
        limits = {"horizon": (1, 1000), "vol_lookback": (2, 10_000), "window": (1, 4096)}
        for name, (low, high) in limits.items():  # a checkpoint is untrusted: bound what sizes the work
            if not low <= getattr(self, name) <= high:
                raise ValueError(f"feature spec {name} must be between {low} and {high}, got {getattr(self, name)}")
        if self.warmup != WARMUP_BARS or not (math.isfinite(self.threshold_k) and 0 <= self.threshold_k <= 100):
            raise ValueError(f"feature spec warm-up {self.warmup} / threshold_k {self.threshold_k} do not fit this "
                             f"code (warm-up {WARMUP_BARS}, threshold_k in [0, 100]): retrain the model")


@dataclass(frozen=True, eq=False)
class WindowDataset:
    """Model-ready windows for one bar series, aligned with their labels (row i <-> bar end_idx[i])."""

    X: np.ndarray              # [N, W, F] float32, scaled features
    times: pd.DatetimeIndex    # [N] time of each window's last bar (the decision time)
    end_idx: np.ndarray        # [N] int64 row of that bar in the input bars
    fwd_return: np.ndarray     # [N] float64, NaN where the horizon runs past the data
    direction: np.ndarray      # [N] float64 class id (DIRECTION_CLASSES), NaN where unlabelled
    spec: FeatureSpec = field(default_factory=FeatureSpec)

    def __len__(self) -> int:
        return len(self.end_idx)

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask of windows with a direction label (use for training; all windows serve signals)."""
        return np.isfinite(self.direction)


def build_dataset(bars: pd.DataFrame, *, window: int, scaler: Scaler, horizon: int = 5,
                  threshold_k: float = 0.5, vol_lookback: int = 20) -> WindowDataset:
    """Bars -> scaled windows + labels: the one path shared by training and signal generation."""
    if scaler.names != FEATURE_NAMES:
        raise ValueError(f"scaler features {list(scaler.names)} differ from FEATURE_NAMES {list(FEATURE_NAMES)}: "
                         "refit the scaler on compute_features() output")
    scaled = scaler.transform(compute_features(bars))
    X, end_idx = make_windows(scaled.to_numpy(), window)
    if len(end_idx) == 0:
        raise InsufficientDataError(
            f"{len(bars)} bars give no complete window: need at least {WARMUP_BARS + window} "
            f"(feature warm-up {WARMUP_BARS} + window {window})")
    labels = make_labels(bars, horizon=horizon, threshold_k=threshold_k, vol_lookback=vol_lookback)
    spec = FeatureSpec(window=window, horizon=horizon, threshold_k=threshold_k, vol_lookback=vol_lookback)
    return WindowDataset(X=X, times=pd.DatetimeIndex(bars.index[end_idx]), end_idx=end_idx,
                         fwd_return=labels["fwd_return"].to_numpy()[end_idx],
                         direction=labels["direction"].to_numpy()[end_idx], spec=spec)
