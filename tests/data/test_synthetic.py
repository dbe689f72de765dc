"""The known-answer generator: each shape's oracle earns the planted strength, and every signal is causal."""
import math

import numpy as np
import pytest

from hrm_core.data.synthetic import (BARS_PER_YEAR, MOMENTUM_BARS, SHAPES, drift_for, oracle_net_sharpe,
                                     planted_series)


def _returns(series) -> np.ndarray:
    return np.diff(np.log(series.bars["close"].to_numpy()))


@pytest.mark.parametrize("shape", SHAPES)
def test_the_oracle_earns_the_planted_strength_net_of_costs(shape):
    """On 200 years of bars (an independent seed) the oracle's net Sharpe is near the rung; noise has none."""
    for rung in (1.0, 4.0):
        s = planted_series(shape, annual_sharpe=rung, n_bars=200 * BARS_PER_YEAR, seed=7)
        r = np.concatenate(([0.0], _returns(s)))
        got = oracle_net_sharpe(r, s.oracle.to_numpy())
        assert abs(got - rung) < 0.35 * rung + 0.2, (shape, rung, got)
    assert drift_for(shape, 0.0) == 0.0


def test_the_bars_are_valid_ohlcv_and_seeded():
    a = planted_series("vol_timing", annual_sharpe=1, n_bars=500, seed=3)
    b = planted_series("vol_timing", annual_sharpe=1, n_bars=500, seed=3)
    bars = a.bars
    assert bars.equals(b.bars) and not bars.equals(planted_series("vol_timing", annual_sharpe=1, n_bars=500).bars)
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert bars.index.is_monotonic_increasing and str(bars.index.tz) == "UTC"
    with pytest.raises(ValueError, match="either"):
        planted_series("regime", n_bars=10)


def test_the_regime_dependent_oracle_reads_only_past_closes_and_the_slow_regime():
    """Causal by construction: the oracle at the close of t is g_t x sign(sum of the last 5 returns up to t),
    so it is a function of prices up to t; and the drift of bar t+1 follows it."""
    s = planted_series("regime_momentum", annual_sharpe=4, n_bars=3000, seed=1)
    r = np.concatenate(([0.0], _returns(s)))  # the first bar's own return is not in the prices: drop it below
    window = np.convolve(r, np.ones(MOMENTUM_BARS))[: len(r)]
    expected = s.hidden.to_numpy() * np.where(window >= 0, 1.0, -1.0)
    assert (expected[1:] == s.oracle.to_numpy()[1:]).mean() > 0.99  # (the first bar's return is not observable)
    # the slow regime flips rarely (about once a year); the momentum reading flips every few bars
    assert np.abs(np.diff(s.hidden.to_numpy())).mean() / 2 < 1 / 100
    # the next bar's return follows the oracle; with no drift it does not
    assert np.mean(s.oracle.to_numpy()[:-1] * r[1:]) > 0
    noise = planted_series("regime_momentum", annual_sharpe=0, n_bars=3000, seed=1)
    assert abs(np.mean(noise.oracle.to_numpy()[:-1] * np.diff(np.log(noise.bars["close"].to_numpy())))) < 3e-4


def test_volatility_timing_has_no_direction_to_predict_only_size():
    s = planted_series("vol_timing", annual_sharpe=2, n_bars=50 * BARS_PER_YEAR, seed=2)
    r = _returns(s)
    size = s.oracle.to_numpy()[:-1]
    assert abs(np.corrcoef(size, r)[0, 1]) < 0.03  # the size does not predict the direction
    # but sizing pays: the oracle's Sharpe beats always holding a full position
    hold = r.mean() / r.std()
    sized = (size * r).mean() / (size * r).std()
    assert sized > 1.3 * hold > 0 and math.isfinite(sized)


def test_the_composition_task_label_is_the_hidden_rule_applied_k_times_newest_first():
    from hrm_core.data.synthetic import LAST, PERMUTATIONS, RELEVANT, composition_task

    t = composition_task(400, window=32, patch_size=4, n_features=15, difficulties=(1, 3, 6), seed=3)
    tokens = t.X[:, ::4]  # one row per patch
    assert t.X.shape == (400, 32, 15) and set(np.unique(t.difficulty)) == {0, 1, 3, 6}
    for i in range(400):
        moves = tokens[i, :, :6].argmax(1)
        relevant = tokens[i, :, RELEVANT] > 0
        assert relevant.sum() == t.difficulty[i] and (not relevant.any() or relevant[-1])  # the newest k patches
        last = tokens[i, :, LAST] > 0
        assert last.sum() == min(t.difficulty[i], 1) and (not last.any() or (relevant & last).any())
        assert not last.any() or relevant[np.argmax(last):].all() and not relevant[:np.argmax(last)].any()
        if t.difficulty[i] == 0:
            continue
        state = 0
        for m in moves[relevant][::-1]:  # newest first
            state = PERMUTATIONS[m][state]
        assert t.y[i] == state
    noise = t.difficulty == 0
    assert 0.05 < noise.mean() < 0.3 and len(set(t.y[noise])) == 3  # a coin toss over the three states


def test_the_composition_task_has_no_counting_shortcut():
    """The label depends on the moves' order: swapping two relevant moves changes it for some windows."""
    from hrm_core.data.synthetic import PERMUTATIONS

    table = np.asarray(PERMUTATIONS)
    pairs = [(a, b) for a in range(6) for b in range(6) if table[a][table[b][0]] != table[b][table[a][0]]]
    assert pairs  # S3 is not commutative


def test_the_composition_task_refuses_more_moves_than_tokens():
    from hrm_core.data.synthetic import composition_task

    with pytest.raises(ValueError, match="difficulties"):
        composition_task(10, window=16, patch_size=4, n_features=15, difficulties=(5,))
