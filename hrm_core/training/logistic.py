"""The simple learner beside the HRM: multinomial L2 logistic regression on the same features and labels.

Inputs are the HRM's own: the causal feature row of bar t (`compute_features`, standardised
by the checkpoint's training-period `Scaler`) and its label (`make_labels` with the
checkpoint's horizon, threshold and vol lookback: short / flat / long). Only rows whose
decision bar lies in the checkpoint's TRAINING period, purged by `purge_bars` so no label
reads past it, are fitted; C is chosen on the validation period's log-loss (same purge); the
test period is never read. Objective (scikit-learn's convention, intercept unpenalised):

    min_W  0.5 ||W_features||^2 + C sum_i -log softmax(x_i W)[y_i]

solved with L-BFGS (scipy). Position at the close of t = p_long - p_short in [-1, 1]: the
whole distribution, no threshold to tune. numpy / scipy only (no scikit-learn dependency).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import log_softmax

from hrm_core.data.features import Scaler, compute_features, make_labels
from hrm_core.training.windows import period_rows

C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # inverse regularisation strengths tried on validation
N_CLASSES = 3  # short, flat, long (make_labels' ids 0, 1, 2)


@dataclass(frozen=True)
class LogisticFit:
    weights: np.ndarray  # (1 + F, 3): intercept row first
    C: float
    scaler: Scaler
    validation: dict[str, float]  # logloss, logloss of the constant class-frequency predictor, accuracy, majority

    def proba(self, bars: pd.DataFrame) -> np.ndarray:
        """(n, 3) class probabilities per bar; NaN rows in warm-up."""
        return predict_proba(self.weights, design(bars, self.scaler))


def design(bars: pd.DataFrame, scaler: Scaler) -> np.ndarray:
    """[1, standardised features of bar t] per bar (NaN during the features' warm-up)."""
    z = scaler.transform(compute_features(bars)).to_numpy(dtype=np.float64)
    return np.column_stack([np.ones(len(z)), z])


def predict_proba(weights: np.ndarray, X: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(X @ weights, axis=1))


def fit_l2_logistic(X: np.ndarray, y: np.ndarray, *, C: float, n_classes: int = N_CLASSES) -> np.ndarray:
    """Weights minimising 0.5 ||W[1:]||^2 + C sum CE (divided by C n for conditioning)."""
    n, d = X.shape
    onehot = np.eye(n_classes)[y]
    mask = np.ones((d, n_classes))
    mask[0] = 0.0  # the intercept is not penalised

    def loss_grad(w_flat: np.ndarray) -> tuple[float, np.ndarray]:
        W = w_flat.reshape(d, n_classes)
        logp = log_softmax(X @ W, axis=1)
        ce = -(onehot * logp).sum()
        grad = X.T @ (np.exp(logp) - onehot) + (mask * W) / C
        return (ce + 0.5 * ((mask * W) ** 2).sum() / C) / n, grad.ravel() / n

    res = minimize(loss_grad, np.zeros(d * n_classes), jac=True, method="L-BFGS-B",
                   options={"maxiter": 500, "gtol": 1e-8})
    return res.x.reshape(d, n_classes)


def _labelled(X: np.ndarray, y: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = rows[np.isfinite(X[rows]).all(axis=1) & np.isfinite(y[rows])]
    return X[keep], y[keep].astype(np.int64)


def logloss(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0)).mean())


def fit_logistic(bars: pd.DataFrame, *, interval: str, loaded, grid=C_GRID) -> LogisticFit:
    """Fit on the checkpoint's training period, pick C by validation log-loss (see the module docstring).

    Raises ValueError when the bars do not cover both periods with labelled rows.
    """
    spec, periods = loaded.feature_spec, loaded.periods
    purge = int(periods.get("purge_bars") or spec.horizon)
    X = design(bars, loaded.scaler)
    y = make_labels(bars, horizon=spec.horizon, threshold_k=spec.threshold_k,
                    vol_lookback=spec.vol_lookback)["direction"].to_numpy()
    Xt, yt = _labelled(X, y, period_rows(bars.index, interval, periods["train"], purge=purge))
    Xv, yv = _labelled(X, y, period_rows(bars.index, interval, periods["validation"], purge=purge))
    if len(yt) < 50 or len(yv) < 20:
        raise ValueError(f"too few labelled rows to fit the logistic regression (train {len(yt)}, validation "
                         f"{len(yv)}): the data must cover the checkpoint's training and validation periods")
    fits = {C: fit_l2_logistic(Xt, yt, C=C) for C in grid}
    scores = {C: logloss(predict_proba(W, Xv), yv) for C, W in fits.items()}
    best = min(scores, key=scores.get)
    freq = np.bincount(yt, minlength=N_CLASSES) / len(yt)  # the constant predictor: training class frequencies
    p_val = predict_proba(fits[best], Xv)
    counts = np.bincount(yv, minlength=N_CLASSES)
    validation = {"logloss": scores[best], "logloss_constant": logloss(np.tile(freq, (len(yv), 1)), yv),
                  "accuracy": float((p_val.argmax(1) == yv).mean()), "majority_rate": float(counts.max() / len(yv)),
                  "n_train": float(len(yt)), "n_validation": float(len(yv))}
    return LogisticFit(weights=fits[best], C=best, scaler=loaded.scaler, validation=validation)


def logistic_positions(bars: pd.DataFrame, fit: LogisticFit) -> pd.Series:
    """p_long - p_short at each close (0 in the features' warm-up)."""
    p = fit.proba(bars)
    pos = np.nan_to_num(p[:, 2] - p[:, 0], nan=0.0)
    return pd.Series(pos, index=bars.index, name="logistic_regression")


__all__ = ["C_GRID", "LogisticFit", "fit_l2_logistic", "fit_logistic", "logistic_positions", "predict_proba"]
