"""Rule baselines as target positions, on the same footing as the model's signals.

Each rule maps closes to a target position decided at the close of bar t from closes
through t only, in [-1, 1], 0 during its warm-up; `run_backtest` holds it over bar t+1,
with the same costs and risk layer as the model (see `hrm_core.evaluation.evaluate`). Compute them
on the full history and slice to the evaluation period afterwards, so a 200-bar SMA is
warm on the first test bar.

- buy & hold: +1 on every bar (enters at the first close of the slice, pays entry cost).
- SMA crossover: +1 while SMA(fast) > SMA(slow), else 0 (or -1 with allow_short).
- time-series momentum (Moskowitz, Ooi & Pedersen 2012): sign of the trailing
  `lookback`-bar return close_t / close_(t-L) - 1: long when positive, short when negative
  (long_only=True: flat instead of short).
- vol-target buy & hold, the simple rule a quant tries first: long w_t = min(cap, sigma* /
  sigma_hat_t), sigma_hat_t = sqrt(P) s(last 20 returns through t) (ddof = 1), decided at the
  close of t; 10 % annual target, cap 1 (REFERENCE "Volatility targeting"); flat in warm-up.

The simple learner (`logistic_regression`): multinomial L2-regularised logistic regression
on the same causal features (`hrm_core.data.features.compute_features` of bar t, standardised with
training-period statistics) and labels (`make_labels`, the training config's horizon and
threshold) as the HRM, fitted on the checkpoint's TRAINING period only (rows purged so no
label reads past it), C chosen by validation log-loss; position = p_long - p_short (the
whole distribution, no threshold), so it trades whenever it leans.

Windows are given in *daily* bars and scaled to the interval with `bars_for(days, interval)`
(50/200 days -> 10/40 weeks), so the rules mean the same thing on every timeframe.

The model baselines (the flat transformer, the HRM with N = T = 1, the HRM without ACT)
are shipped checkpoints run through `hrm_core.trading.signals` like the main model; their names
are listed in MODEL_BASELINES.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hrm_core.trading.metrics import periods_per_year
from hrm_core.trading.risk import trailing_volatility

MODEL_BASELINES = {  # each differs from hrm-default in one thing (scripts/train_shipped_models.py)
    "flat": "flat transformer, same embeddings and heads, same parameter count",
    "hrm-n1t1": "HRM ablation: N = T = 1 with M = 9, the default's depth budget (at most 18 block calls)",
    "hrm-noact": "HRM ablation: ACT off, fixed at the default's mean validation depth",
    "hrm-reset-l": "HRM ablation: L state reset at each H cycle",
    "hrm-full-grad": "HRM ablation: full backprop through the last cycle instead of the one-step gradient",
}


def bars_for(days: int, interval: str) -> int:
    """A window of `days` trading days in bars of `interval` (at least 2)."""
    return max(2, int(round(days * periods_per_year(interval) / 252.0)))


def _check(close: pd.Series) -> pd.Series:
    if not isinstance(close, pd.Series):
        raise TypeError("close must be a pandas Series")
    px = close.astype(float)
    if len(px) and (not np.isfinite(px.to_numpy()).all() or (px <= 0).any()):
        raise ValueError("close must be finite and positive: drop or fill the bad bars")
    return px


def buy_and_hold(close: pd.Series) -> pd.Series:
    """+1 on every bar."""
    px = _check(close)
    return pd.Series(1.0, index=px.index, name="buy_and_hold")


def sma_crossover(close: pd.Series, *, fast: int = 50, slow: int = 200, allow_short: bool = False) -> pd.Series:
    """+1 when SMA(fast) > SMA(slow) at the close, else 0 (-1 with allow_short); 0 until SMA(slow) exists."""
    if not 1 <= fast < slow:
        raise ValueError(f"need 1 <= fast < slow, got fast={fast}, slow={slow}")
    px = _check(close)
    f = px.rolling(fast, min_periods=fast).mean()
    s = px.rolling(slow, min_periods=slow).mean()
    off = -1.0 if allow_short else 0.0
    pos = np.where(f > s, 1.0, off)
    pos[s.isna().to_numpy()] = 0.0
    return pd.Series(pos, index=px.index, name="sma_crossover")


def momentum(close: pd.Series, *, lookback: int = 252, long_only: bool = False) -> pd.Series:
    """sign(close_t / close_(t-lookback) - 1): +1 / -1 (0 instead of -1 when long_only); 0 in warm-up."""
    if lookback < 1:
        raise ValueError(f"lookback must be >= 1 bar, got {lookback}")
    px = _check(close)
    past = px / px.shift(lookback) - 1.0
    pos = np.sign(past.to_numpy())
    pos = np.where(np.isnan(pos), 0.0, pos)
    if long_only:
        pos = np.maximum(pos, 0.0)
    return pd.Series(pos + 0.0, index=px.index, name="momentum")


def vol_target_buy_and_hold(close: pd.Series, *, periods_per_year: float, target_annual: float = 0.10,
                            lookback: int = 20, cap: float = 1.0) -> pd.Series:
    """Long min(cap, target / sigma_hat_t) from the last `lookback` returns through t; 0 in warm-up."""
    if target_annual <= 0 or not 0 < cap <= 1 or lookback < 2:
        raise ValueError(f"need target_annual > 0, 0 < cap <= 1 and lookback >= 2; got {target_annual}, {cap}, "
                         f"{lookback}")
    px = _check(close)
    sigma = trailing_volatility(px, lookback=lookback, periods_per_year=periods_per_year).to_numpy()
    pos = np.zeros(len(px))
    ok = np.isfinite(sigma)
    pos[ok] = np.minimum(cap, target_annual / np.maximum(sigma[ok], 1e-12))
    return pd.Series(pos, index=px.index, name="vol_target_buy_and_hold")


@dataclass(frozen=True)
class RuleBaseline:
    name: str
    description: str
    positions: Callable[[pd.Series, str], pd.Series]  # (close, interval) -> target position


def rule_baselines() -> list[RuleBaseline]:
    """The rule baselines every evaluation reports, with their parameters written into the description."""
    return [
        RuleBaseline("buy & hold", "long 1.0 on every bar", lambda c, iv: buy_and_hold(c)),
        RuleBaseline("SMA 50/200", "long while SMA(50 d) > SMA(200 d), else flat",
                     lambda c, iv: sma_crossover(c, fast=bars_for(50, iv), slow=bars_for(200, iv))),
        RuleBaseline("momentum 12m", "long/short by the sign of the trailing 252-day return",
                     lambda c, iv: momentum(c, lookback=bars_for(252, iv))),
        RuleBaseline("vol-target B&H", "long min(1, 10 % / 20-day realised volatility), decided at the close",
                     lambda c, iv: vol_target_buy_and_hold(c, periods_per_year=periods_per_year(iv),
                                                           lookback=bars_for(20, iv))),
    ]


__all__ = ["MODEL_BASELINES", "RuleBaseline", "bars_for", "buy_and_hold", "momentum", "rule_baselines",
           "sma_crossover", "vol_target_buy_and_hold"]
