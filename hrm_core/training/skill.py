"""Skill against the right null (REFERENCE "Skill against the null"): log-loss and accuracy of a
model's class probabilities against the constant class-frequency predictor.

The null predicts the TRAINING class frequencies for every window; its accuracy is that of
always guessing the training majority class. Both comparisons are paired per window:

    d_logloss_i  = -log p_model(y_i) + log p_null(y_i)        (< 0: the model is better)
    d_accuracy_i = 1[argmax p_model = y_i] - 1[majority = y_i]  (> 0: the model is better)

and their means get stationary-bootstrap percentile intervals (Politis & Romano 1994) with a
mean block of max(label horizon, n^(1/3)) windows, since overlapping labels are dependent.
Verdict in words: "skill" only when the log-loss interval lies wholly below 0; "no evidence of
skill" when it includes 0; "worse than the constant predictor" when it lies above 0. The
majority rate of the period itself is reported beside (it is what a reader expects to see).
"""
from __future__ import annotations

import numpy as np

from hrm_core.trading.metrics import stationary_bootstrap_indices

N_BOOT = 2000
LEVEL = 0.95
EPS = 1e-12  # probabilities are clipped here before the log


def class_frequencies(y: np.ndarray, n_classes: int = 3) -> np.ndarray:
    """Share of each class id among the labels (the constant predictor's output)."""
    y = np.asarray(y, dtype=np.int64)
    return np.bincount(y, minlength=n_classes) / max(len(y), 1)


def _interval(d: np.ndarray, *, mean_block: float, n_boot: int, seed: int) -> tuple[float, float]:
    idx = stationary_bootstrap_indices(len(d), n_boot, mean_block, np.random.default_rng(seed))
    means = d[idx].mean(axis=1)
    a = (1 - LEVEL) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def verdict(lo: float, hi: float) -> str:
    if hi < 0:
        return "skill: log-loss below the constant predictor's, interval excludes 0"
    if lo > 0:
        return "worse than the constant predictor (log-loss interval above 0)"
    return "no evidence of skill (the log-loss interval includes 0)"


def skill_vs_null(probs: np.ndarray, y: np.ndarray, train_frequencies: np.ndarray, *, horizon: int,
                  n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """Paired log-loss and accuracy differences against the constant predictor, with intervals and a verdict.

    probs (n, C) model class probabilities; y (n,) class ids; train_frequencies (C,) of the training labels,
    or (n, C): one null per window (walk-forward: each window gets its own fold's training frequencies;
    "train_frequencies" in the result is then their mean over windows).
    """
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    freq = np.asarray(train_frequencies, dtype=np.float64)
    n = len(y)
    null = np.broadcast_to(freq, (n, freq.shape[-1])) if freq.ndim == 1 else freq
    if n < 2 or p.shape != null.shape:
        raise ValueError(f"need n >= 2 windows with probabilities of shape (n, {freq.shape[-1]}) like the null's "
                         f"{null.shape}; got {p.shape}, n = {n}")
    rows = np.arange(n)
    ll_model = -np.log(np.clip(p[rows, y], EPS, 1.0))
    ll_null = -np.log(np.clip(null[rows, y], EPS, 1.0))
    hit_model = (p.argmax(axis=1) == y).astype(float)
    hit_null = (y == null.argmax(axis=1)).astype(float)
    block = max(float(horizon), n ** (1 / 3))
    d_ll, d_acc = ll_model - ll_null, hit_model - hit_null
    ll_lo, ll_hi = _interval(d_ll, mean_block=block, n_boot=n_boot, seed=seed)
    acc_lo, acc_hi = _interval(d_acc, mean_block=block, n_boot=n_boot, seed=seed + 1)
    counts = np.bincount(y, minlength=len(freq))
    return {
        "n": int(n), "mean_block": block, "level": LEVEL,
        "logloss": float(ll_model.mean()), "logloss_constant": float(ll_null.mean()),
        "logloss_diff": float(d_ll.mean()), "logloss_diff_ci": [ll_lo, ll_hi],
        "accuracy": float(hit_model.mean()), "accuracy_constant": float(hit_null.mean()),
        "majority_rate": float(counts.max() / n),
        "accuracy_diff": float(d_acc.mean()), "accuracy_diff_ci": [acc_lo, acc_hi],
        "share_of_commonest_action": float(np.bincount(p.argmax(axis=1), minlength=len(freq)).max() / n),
        "train_frequencies": [float(f) for f in (freq if freq.ndim == 1 else freq.mean(axis=0))],
        "verdict": verdict(ll_lo, ll_hi),
    }


def period_labels(loaded, bars, probs, *, interval: str, start: str | None,
                  end: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The scored rows of one instrument's bars in [start, end], their class ids, and the null's frequencies.

    Labels with the checkpoint's horizon / threshold / vol lookback; rows purged so no label reads
    past the period, kept where the label and `probs` ((n_bars, 3) aligned with `bars`, NaN = no
    decision) are finite; the frequencies are the labels of the same series in the checkpoint's
    training period (purged likewise). Raises ValueError with fewer than 20 rows on either side."""
    from hrm_core.data.features import make_labels
    from hrm_core.training.windows import period_rows

    spec, periods = loaded.feature_spec, loaded.periods
    purge = int(periods.get("purge_bars") or spec.horizon)
    y = make_labels(bars, horizon=spec.horizon, threshold_k=spec.threshold_k,
                    vol_lookback=spec.vol_lookback)["direction"].to_numpy()
    ok = np.isfinite(y) & np.isfinite(np.asarray(probs, dtype=np.float64)).all(axis=1)
    train = period_rows(bars.index, interval, periods["train"], purge=purge)
    test = period_rows(bars.index, interval, (start, end), purge=purge)
    train, test = train[np.isfinite(y[train])], test[ok[test]]
    if len(train) < 20 or len(test) < 20:
        raise ValueError(f"too few labelled windows (training {len(train)}, period {len(test)})")
    return test, y[test].astype(np.int64), class_frequencies(y[train].astype(np.int64))


def period_skill(loaded, bars, probs, *, interval: str, start: str | None, end: str | None,
                 n_boot: int = N_BOOT) -> dict:
    """Skill of a checkpoint's signal-table probabilities on one instrument's bars in [start, end]
    (rows, labels and null as `period_labels` gives them)."""
    rows, y, freq = period_labels(loaded, bars, probs, interval=interval, start=start, end=end)
    out = skill_vs_null(np.asarray(probs, dtype=np.float64)[rows], y, freq, horizon=loaded.feature_spec.horizon,
                        n_boot=n_boot)
    out["period"] = {"start": start, "end": end, "null": "training-period class frequencies of this series"}
    return out


def checkpoint_skill(loaded, *, settings, n_boot: int = N_BOOT) -> dict:
    """Validation skill of a checkpoint on its own instruments (bars rebuilt; the test period is not loaded).

    Windows, labels, scaler and purge exactly as training built them (hrm_core.training.train); the null's
    frequencies are those of the training windows, pooled over the checkpoint's series."""
    from hrm_core.data.market import load_bars
    from hrm_core.training.windows import make_windows_for_period, predict

    periods = loaded.periods
    spec = loaded.feature_spec
    purge = int(periods.get("purge_bars") or spec.horizon)
    series = {}
    for sym in loaded.instruments:
        for iv in loaded.intervals:
            bars = load_bars(sym, iv, None, periods["validation"][1], settings=settings).bars
            series[(sym, iv)] = bars
    common = dict(vocab=loaded.instruments, scaler=loaded.scaler, spec=spec, purge=purge)
    train_ws = make_windows_for_period(series, start=periods["train"][0], end=periods["train"][1], **common)
    val_ws = make_windows_for_period(series, start=periods["validation"][0], end=periods["validation"][1], **common)
    probs = predict(loaded.model, val_ws)["probs"]
    out = skill_vs_null(probs, val_ws.direction, class_frequencies(train_ws.direction), horizon=spec.horizon,
                        n_boot=n_boot)
    out["period"] = {"name": "validation", "start": periods["validation"][0], "end": periods["validation"][1]}
    return out



__all__ = ["checkpoint_skill", "class_frequencies", "period_labels", "period_skill", "skill_vs_null",
           "verdict"]
