"""What the reasoning states look like: participation ratio (with bootstrap CIs) and 2-D PCA.

- **Participation ratio** (REFERENCE "Representation"): PR = (sum lambda)^2 / sum lambda^2 =
  (tr C)^2 / tr(C^2), C the covariance of the centred states (samples x units). 1 <= PR <= D:
  1 when every state lies on one line, D when the variance is spread evenly over all D units
  (isotropic). The HRM paper reads a higher PR for z_H than for z_L as the slow module using
  more dimensions. PR is biased low with few samples, so H and L are compared on the same
  decisions (equal counts).
- **Bootstrap**: decisions are a time series (neighbouring windows overlap), so the interval
  resamples whole decisions in stationary-bootstrap blocks, reusing
  `hrm_core.trading.metrics.bootstrap_ci` on the row indices.
- **PCA trajectory**: the states of one decision, step by step, projected on the two
  directions of largest variance of that trajectory (SVD of the centred points).
"""
from __future__ import annotations

import math

import numpy as np

from hrm_core.trading.metrics import bootstrap_ci

_SUB = 64  # bootstrap replicates per covariance batch: bounds memory to 64 x n x D floats


def participation_ratio(states: np.ndarray) -> float:
    """PR of (n, D) states: (tr C)^2 / tr(C^2); NaN with under 2 samples or zero variance."""
    X = np.asarray(states, dtype=np.float64)
    if X.ndim != 2 or len(X) < 2 or not np.isfinite(X).all():
        return math.nan
    Xc = X - X.mean(axis=0)
    C = Xc.T @ Xc / (len(X) - 1)
    tr, tr2 = float(np.trace(C)), float((C * C).sum())
    return tr * tr / tr2 if tr2 > 0 else math.nan


def _pr_rows(X: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """PR of X[idx[k]] for every resample k: (k, n) integer rows -> (k,) ratios."""
    out = np.empty(len(idx))
    for lo in range(0, len(idx), _SUB):
        Xs = X[idx[lo:lo + _SUB]]  # (k, n, D)
        Xs = Xs - Xs.mean(axis=1, keepdims=True)
        C = np.einsum("knd,kne->kde", Xs, Xs)  # the 1 / (n - 1) cancels in the ratio
        tr = np.trace(C, axis1=1, axis2=2)
        tr2 = (C * C).sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[lo:lo + _SUB] = np.where(tr2 > 0, tr * tr / tr2, np.nan)
    return out


def participation_ratio_ci(states: np.ndarray, *, n_boot: int = 500, alpha: float = 0.05,
                           seed: int = 0, mean_block: float | None = None) -> dict:
    """{"value", "ci": [lo, hi], "n", "dims", "mean_block"}: PR with a stationary-bootstrap percentile interval
    over decisions; `mean_block` in decisions (None: bootstrap_ci's default, n^(1/3)). Decisions of a period
    are dependent (shared volatility, overlapping input windows): pass hrm_core.reasoning.diagnostics.decision_block."""
    X = np.asarray(states, dtype=np.float64)
    value = participation_ratio(X)
    n, D = (X.shape if X.ndim == 2 else (0, 0))
    if not np.isfinite(value) or n < 3:
        return {"value": value, "ci": [math.nan, math.nan], "n": int(n), "dims": int(D), "mean_block": mean_block}
    rows = np.arange(n, dtype=np.float64)  # bootstrap_ci resamples these; the statistic indexes the states
    lo, hi = bootstrap_ci(rows, lambda r: _pr_rows(X, r.astype(np.int64)), n_boot=n_boot, alpha=alpha,
                          seed=seed, vectorized=True, mean_block=mean_block)
    return {"value": value, "ci": [lo, hi], "n": int(n), "dims": int(D), "mean_block": mean_block}


def pca_2d(points: np.ndarray) -> dict:
    """Project (k, D) points on their two main directions: {"x", "y", "explained": [r1, r2]}.

    Explained ratios are shares of the trajectory's total variance; a trajectory with fewer
    than 3 distinct points still gets two coordinates (the second may be all zeros)."""
    P = np.asarray(points, dtype=np.float64)
    if P.ndim != 2 or len(P) == 0:
        return {"x": [], "y": [], "explained": [math.nan, math.nan]}
    Pc = P - P.mean(axis=0)
    _, s, vt = np.linalg.svd(Pc, full_matrices=False)
    basis = np.zeros((2, P.shape[1]))
    basis[:min(2, len(vt))] = vt[:2]
    xy = Pc @ basis.T
    var = s ** 2
    total = float(var.sum())
    explained = [float(var[i] / total) if total > 0 and i < len(var) else 0.0 for i in range(2)]
    return {"x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(), "explained": explained}


__all__ = ["participation_ratio", "participation_ratio_ci", "pca_2d"]
