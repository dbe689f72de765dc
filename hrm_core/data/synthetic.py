"""Known-answer data: daily bars with a planted, causal signal of a chosen strength and its oracle, and a
reasoning task whose difficulty (how many compositions the label needs) is set per window.

One generator for every known-answer check (the edge-power ladder, `benchmarks.known_answer`, the training tests).
Each shape plants a different kind of information; in all of them the bar-(t+1) return depends only on
what is known at the close of t (hidden state up to t, prices up to t), so every signal is causal, and the
ORACLE position (the best use of the hidden state, decided at the close of t) is the known answer:

- ``regime``: a persistent hidden regime s_t = +-1 flips with probability 1/100 a bar;
  r_{t+1} = d s_{t+1} + sigma e_{t+1}. Oracle: hold s_t.
- ``regime_momentum``: the sign of the fast momentum reading m_t = sign(r_{t-4} + ... + r_t) predicts the
  next return, but with a sign set by a slow hidden regime g_t = +-1 (flips 1/250 a bar, about a year):
  trend-following when g = +1, mean-reversion when g = -1. r_{t+1} = d g_t m_t + sigma e_{t+1}. Oracle:
  hold g_t m_t. The right decision needs a slow context (g, read from months of how momentum paid) and a
  fast reading (m, this week's prices): the case the H / L split exists for.
- ``vol_timing``: the direction is unpredictable (a constant premium mu, noise e) but volatility is
  persistent and hidden: log sigma_t = log sigma + h_t, h an AR(1) (phi 0.98, stationary sd 0.5);
  r_{t+1} = mu + sigma_{t+1} e_{t+1}. Only sizing can earn more than holding: the oracle holds
  min(1, (sigma / E_t sigma_{t+1})^2), the mean-variance size, capped at a full position.

STRENGTH. ``annual_sharpe`` is the oracle's NET annualised Sharpe (252 bars a year, after the production
cost of 3 bps per unit of turnover, next-open fills ignored): the drift d (or mu) is found by bisection on
a long reference sample (100,000 bars, fixed seed), so a rung's oracle has that Sharpe on average; any one
20-year series scatters around it (its test period more so). ``annual_sharpe = 0`` is the pure-noise
control (no drift: nothing to find).

Prices: close_t = 100 exp(sum r); open_t = close_{t-1} with a 0.1 % gap noise; high / low wrap open and
close by a half-normal excursion scaled to the bar's volatility. Business days from 2000-01-03, UTC.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

SHAPES = ("regime", "regime_momentum", "vol_timing")
BARS_PER_YEAR = 252
COST = 3e-4  # per unit of turnover: the production commission + slippage (1 + 2 bps)
VOL = 0.01  # the typical daily volatility (sigma)
MOMENTUM_BARS = 5
_REFERENCE_BARS = 100_000


@dataclass(frozen=True)
class PlantedSeries:
    shape: str
    annual_sharpe: float  # the oracle's target net Sharpe (the rung); NaN when the drift was given
    drift: float  # the per-bar strength found for it (d, or mu for vol_timing)
    bars: pd.DataFrame  # open, high, low, close, volume; DatetimeIndex "time" (UTC)
    oracle: pd.Series  # the position decided at each close with the hidden state known
    hidden: pd.Series  # the hidden state: the regime (+-1; the slow regime g for regime_momentum) or h_t


def _returns(shape: str, drift: float, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(returns r_t, oracle position decided at the close of t, hidden state, per-bar volatility)."""
    if shape == "regime":
        s = np.where(np.cumsum(rng.random(n) < 1 / 100) % 2 == 0, 1.0, -1.0)
        return drift * s + VOL * rng.standard_normal(n), s, s, np.full(n, VOL)
    noise = rng.standard_normal(n)
    if shape == "regime_momentum":
        g = np.where(np.cumsum(rng.random(n) < 1 / 250) % 2 == 0, 1.0, -1.0)
        r, oracle = [0.0] * n, [0.0] * n
        shock, slow, window, held = (VOL * noise).tolist(), g.tolist(), 0.0, 0.0
        for t in range(n):  # sequential: the drift of bar t reads the momentum of the bars before it
            r[t] = drift * held + shock[t]
            window += r[t] - (r[t - MOMENTUM_BARS] if t >= MOMENTUM_BARS else 0.0)
            held = slow[t] * (1.0 if window >= 0 else -1.0)
            oracle[t] = held
        return np.array(r), np.array(oracle), g, np.full(n, VOL)
    if shape == "vol_timing":
        phi, sd = 0.98, 0.5
        eta = rng.standard_normal(n) * sd * math.sqrt(1 - phi ** 2)
        eta[0] = sd * rng.standard_normal()  # h_0 from the stationary law
        from scipy.signal import lfilter  # here, not at import: the Performance page imports this module

        h = lfilter([1.0], [1.0, -phi], eta)  # h_t = phi h_{t-1} + eta_t
        sigma = VOL * np.exp(h)
        expected_next = VOL * np.exp(phi * h + 0.5 * sd ** 2 * (1 - phi ** 2))  # E_t sigma_{t+1}, lognormal
        oracle = np.minimum(1.0, (VOL / expected_next) ** 2)
        return drift + sigma * noise, oracle, h, sigma
    raise ValueError(f"unknown shape {shape!r}; choose one of {SHAPES}")


def oracle_net_sharpe(r: np.ndarray, oracle: np.ndarray) -> float:
    """Annualised net Sharpe of holding oracle[t] over bar t+1, paying COST per unit of turnover."""
    pos = oracle[:-1]
    pnl = pos * r[1:] - COST * np.abs(np.diff(np.concatenate(([0.0], pos))))
    return float(pnl.mean() / pnl.std() * math.sqrt(BARS_PER_YEAR)) if pnl.std() > 0 else 0.0


@lru_cache(maxsize=64)
def drift_for(shape: str, annual_sharpe: float) -> float:
    """The per-bar strength whose oracle earns `annual_sharpe` net on the long reference sample (bisection)."""
    if annual_sharpe <= 0:
        return 0.0

    def sharpe(d: float) -> float:
        r, oracle, _, _ = _returns(shape, d, _REFERENCE_BARS, np.random.default_rng(12345))
        return oracle_net_sharpe(r, oracle)

    lo, hi = 0.0, VOL
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sharpe(mid) < annual_sharpe else (lo, mid)
        if hi - lo < 1e-7:
            break
    return (lo + hi) / 2


def planted_series(shape: str, *, annual_sharpe: float | None = None, drift: float | None = None,
                   n_bars: int = 20 * BARS_PER_YEAR, seed: int = 0) -> PlantedSeries:
    """`n_bars` daily bars of `shape` whose oracle earns about `annual_sharpe` a year net of costs, or
    whose per-bar strength is `drift` (give one of the two)."""
    if (annual_sharpe is None) == (drift is None):
        raise ValueError("give either annual_sharpe or drift")
    if drift is None:
        drift = drift_for(shape, float(annual_sharpe))
    n = int(n_bars)
    rng = np.random.default_rng(seed)
    r, oracle, hidden, sigma = _returns(shape, drift, n, rng)
    close = 100 * np.exp(np.cumsum(r))
    open_ = np.concatenate(([100.0], close[:-1])) * np.exp(0.001 * rng.standard_normal(n))
    high = np.maximum(open_, close) * np.exp(np.abs(0.3 * sigma * rng.standard_normal(n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(0.3 * sigma * rng.standard_normal(n)))
    idx = pd.DatetimeIndex(pd.bdate_range("2000-01-03", periods=n, tz="UTC"), name="time")
    bars = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": rng.uniform(1e6, 2e6, n)}, index=idx)
    return PlantedSeries(shape=shape, annual_sharpe=math.nan if annual_sharpe is None else float(annual_sharpe),
                         drift=float(drift), bars=bars,
                         oracle=pd.Series(oracle, index=idx, name="oracle"),
                         hidden=pd.Series(hidden, index=idx, name="hidden"))


# ----------------------------------------------------------------------------- a task where depth must pay

PERMUTATIONS = tuple(itertools.permutations(range(3)))  # S3: the hidden rule's six moves
RELEVANT = 6  # feature column flagging the patches whose moves count (columns 0-5: the move, one-hot)
LAST = 7  # feature column flagging the last move of the word (the oldest relevant patch)


@dataclass(frozen=True)
class CompositionTask:
    """Model-ready windows (n, window, n_features), labels in {0, 1, 2}, and each window's difficulty:
    the number of moves composed (0 = the noise stratum: no move counts and the label is a coin toss)."""

    X: np.ndarray
    y: np.ndarray
    difficulty: np.ndarray


def composition_task(n: int, *, window: int, patch_size: int, n_features: int, difficulties: tuple[int, ...],
                     noise_share: float = 0.15, seed: int = 0) -> CompositionTask:
    """Windows whose label needs k compositions of a hidden rule, k set per window.

    Every patch of `patch_size` bars (one model token) carries one move of S3, the group of the six
    permutations of three states (one-hot in columns 0-5); the newest k patches are flagged relevant
    (column 6) and the oldest of them, the word's last move, is flagged too (column 7). The label is where
    state 0 ends after the k relevant moves, newest first: the word problem of S3, the standard "state
    tracking" task. It has no shortcut through counting (S3 is not commutative): the moves must be
    composed in order, for instance by a scan in which each token composes its move with its newer
    neighbour's running product, one token further per update, so that more moves need more updates of
    the reasoning state and more segments. k = 1 is the easy stratum (read one token). The noise stratum
    flags nothing and draws the label at random: nothing to compute."""
    tokens = window // patch_size
    if max(difficulties) > tokens or min(difficulties) < 1 or n_features <= LAST:
        raise ValueError(f"difficulties must lie in 1..{tokens} (tokens per window) and n_features exceed {LAST}")
    rng = np.random.default_rng(seed)
    moves = rng.integers(0, len(PERMUTATIONS), (n, tokens))
    noise = rng.random(n) < noise_share
    k = np.where(noise, 0, rng.choice(np.asarray(difficulties), n))
    age = tokens - 1 - np.arange(tokens)  # 0 = the newest patch
    relevant = age[None, :] < k[:, None]
    table = np.asarray(PERMUTATIONS)  # table[m, s]: where state s goes under move m
    state = np.zeros(n, dtype=np.int64)
    for t in range(tokens - 1, -1, -1):  # newest first
        state = np.where(relevant[:, t], table[moves[:, t], state], state)
    y = np.where(noise, rng.integers(0, 3, n), state)
    X = np.zeros((n, tokens, n_features), dtype=np.float32)
    np.put_along_axis(X, moves[:, :, None], 1.0, axis=2)
    X[:, :, RELEVANT] = relevant
    X[:, :, LAST] = age[None, :] == k[:, None] - 1
    return CompositionTask(X=np.repeat(X, patch_size, axis=1), y=y.astype(np.int64), difficulty=k.astype(np.int64))


__all__ = ["BARS_PER_YEAR", "CompositionTask", "PlantedSeries", "SHAPES", "composition_task", "drift_for",
           "oracle_net_sharpe", "planted_series"]
