"""Specification of hrm_core.data.features: causal features, scaler, windows, labels, dataset."""
from __future__ import annotations

import functools
import json
import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrm_core.errors import InsufficientDataError, InvalidBarsError
from hrm_core.data.features import (
    DIRECTION_CLASSES,
    FEATURE_DOCS,
    FEATURE_NAMES,
    FEATURE_VERSION,
    WARMUP_BARS,
    FeatureSpec,
    Scaler,
    _raw_features,
    build_dataset,
    compute_features,
    make_labels,
    make_windows,
)

SAMPLE_CSV = Path(__file__).resolve().parents[2] / "data_cache" / "sample" / "GSPC_1d.csv"


def random_bars(n: int, seed: int = 0, *, zero_volume: bool = False, freq: str = "D") -> pd.DataFrame:
    """Geometric random walk with consistent OHLC (low <= open, close <= high) and lognormal volume."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0.0, 0.003, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.005, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.005, n)))
    volume = np.zeros(n) if zero_volume else rng.lognormal(10.0, 0.5, n)
    index = pd.date_range("2020-01-01", periods=n, freq=freq, tz="UTC", name="time")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


def perturb_after(bars: pd.DataFrame, t: int, seed: int) -> pd.DataFrame:
    """Rewrite every bar after row t: prices times a random factor per bar (OHLC stays consistent), new volume."""
    rng = np.random.default_rng(seed)
    out = bars.copy()
    n_after = len(bars) - t - 1
    factor = np.exp(rng.normal(0.0, 0.3, n_after))
    for col in ("open", "high", "low", "close"):
        out.iloc[t + 1:, out.columns.get_loc(col)] = bars[col].to_numpy()[t + 1:] * factor
    out.iloc[t + 1:, out.columns.get_loc("volume")] = rng.choice([0.0, 1.0, 1e7], n_after)
    return out


N_CAUSAL = 240
HORIZON = 5
WINDOW = 16


@functools.cache
def _reference() -> tuple[pd.DataFrame, pd.DataFrame, Scaler, np.ndarray, np.ndarray, pd.DataFrame]:
    """Bars, features, a scaler fit on the first half, its windows and the labels: computed once."""
    bars = random_bars(N_CAUSAL, seed=1)
    feats = compute_features(bars)
    scaler = Scaler.fit(feats.iloc[: N_CAUSAL // 2])
    windows, end_idx = make_windows(scaler.transform(feats).to_numpy(), WINDOW)
    return bars, feats, scaler, windows, end_idx, make_labels(bars, horizon=HORIZON)


# --- causality -------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None, derandomize=True)
@given(t=st.integers(min_value=0, max_value=N_CAUSAL - 2), seed=st.integers(0, 2**32 - 1))
def test_changing_bars_after_t_leaves_features_windows_and_past_labels_unchanged(t, seed):
    bars, feats, scaler, windows, end_idx, labels = _reference()
    changed = perturb_after(bars, t, seed)

    new_feats = compute_features(changed)
    np.testing.assert_array_equal(new_feats.iloc[: t + 1].to_numpy(), feats.iloc[: t + 1].to_numpy())

    new_windows, new_end = make_windows(scaler.transform(new_feats).to_numpy(), WINDOW)
    np.testing.assert_array_equal(new_end, end_idx)  # features stay finite, so the same windows exist
    past = end_idx <= t
    np.testing.assert_array_equal(new_windows[past], windows[past])

    # A label at s reads close[s + h]: rows s <= t - h cannot see the change.
    new_labels = make_labels(changed, horizon=HORIZON)
    np.testing.assert_array_equal(new_labels.iloc[: max(t - HORIZON + 1, 0)].to_numpy(),
                                  labels.iloc[: max(t - HORIZON + 1, 0)].to_numpy())
    # NaN exactly where t + h runs past the data or the 20-bar threshold vol is undefined.
    expected_nan = np.zeros(N_CAUSAL, bool)
    expected_nan[-HORIZON:] = True
    expected_nan[:20] = True
    np.testing.assert_array_equal(new_labels["direction"].isna().to_numpy(), expected_nan)
    np.testing.assert_array_equal(new_labels["fwd_return"].isna().to_numpy(), np.arange(N_CAUSAL) >= N_CAUSAL - HORIZON)


@pytest.mark.parametrize("name", FEATURE_NAMES)
def test_each_feature_reads_exactly_its_documented_lookback(name):
    bars, t = random_bars(200, seed=2), 150
    lookback = FEATURE_DOCS[name][0]
    base = _raw_features(bars)[name]
    assert base.iloc[:lookback].isna().all() and np.isfinite(base.iloc[lookback:]).all()

    # Bars older than t - lookback are invisible to row t (up to float rounding in rolling sums).
    rng = np.random.default_rng(3)
    older = bars.copy()
    older.iloc[: t - lookback, :4] = bars.iloc[: t - lookback, :4].to_numpy() * rng.uniform(0.5, 2.0, (t - lookback, 1))
    older.iloc[: t - lookback, 4] = rng.uniform(0, 1e6, t - lookback)
    assert _raw_features(older)[name].iloc[t] == pytest.approx(base.iloc[t], rel=1e-9, abs=1e-12)

    # ...while bar t - lookback itself is read (scaling a whole bar changes nothing within that bar).
    if lookback > 0:
        edge = bars.copy()
        edge.iloc[t - lookback, :4] = edge.iloc[t - lookback, :4].to_numpy() * 3.0
        edge.iloc[t - lookback, 4] = edge.iloc[t - lookback, 4] * 3.0
        assert _raw_features(edge)[name].iloc[t] != pytest.approx(base.iloc[t], rel=1e-9, abs=1e-12)


def test_features_on_a_recent_slice_match_the_full_history():
    # Finite memory: live trading can compute features from the last WARMUP_BARS + 1 bars only.
    bars = random_bars(400, seed=4)
    full = compute_features(bars)
    recent = compute_features(bars.iloc[250:])
    np.testing.assert_allclose(recent.iloc[WARMUP_BARS:].to_numpy(), full.iloc[250 + WARMUP_BARS:].to_numpy(),
                               rtol=1e-9, atol=1e-12)


# --- warm-up, shape, finiteness --------------------------------------------------------------


@pytest.mark.parametrize("zero_volume", [False, True], ids=["volume", "zero-volume"])
def test_warmup_rows_are_nan_and_every_later_row_is_finite(zero_volume):
    bars = random_bars(300, seed=5, zero_volume=zero_volume)
    feats = compute_features(bars)
    assert list(feats.columns) == list(FEATURE_NAMES)
    assert feats.index.equals(bars.index)
    assert (feats.dtypes == np.float64).all()
    assert feats.iloc[:WARMUP_BARS].isna().all().all()
    assert np.isfinite(feats.iloc[WARMUP_BARS:].to_numpy()).all()
    if zero_volume:
        assert (feats["volume_z_20"].iloc[WARMUP_BARS:] == 0.0).all()


def test_a_flat_price_gives_finite_features():
    bars = random_bars(120, seed=6)
    bars.iloc[:, :4] = 50.0  # e.g. a halted instrument
    assert np.isfinite(compute_features(bars).iloc[WARMUP_BARS:].to_numpy()).all()


def test_features_do_not_depend_on_the_price_unit():
    bars = random_bars(200, seed=7)
    scaled = bars.copy()
    scaled.iloc[:, :4] *= 1000.0  # quoted in another currency unit
    np.testing.assert_allclose(compute_features(scaled).to_numpy(), compute_features(bars).to_numpy(),
                               rtol=1e-6, atol=1e-9)


def test_feature_names_and_warmup_are_documented():
    assert 12 <= len(FEATURE_NAMES) <= 16 and len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert WARMUP_BARS == max(lookback for lookback, _ in FEATURE_DOCS.values())
    assert all(doc for _, doc in FEATURE_DOCS.values()) and FEATURE_VERSION


def test_bars_without_required_columns_are_rejected():
    with pytest.raises(InvalidBarsError, match="volume"):
        compute_features(random_bars(80).drop(columns="volume"))


@pytest.mark.skipif(not SAMPLE_CSV.exists(), reason=f"bundled sample {SAMPLE_CSV.name} not present")
def test_real_sample_gives_finite_features_after_warmup():
    # Read the file directly (hrm_core.data.market is tested on its own); first column is the timestamp.
    raw = pd.read_csv(SAMPLE_CSV, index_col=0)
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    columns = ["open", "high", "low", "close", "volume"]
    if not set(columns) <= set(raw.columns):
        pytest.skip(f"{SAMPLE_CSV.name} has columns {list(raw.columns)}, not plain OHLCV")
    raw.index = pd.to_datetime(raw.index, utc=True)
    bars = raw[columns].astype("float64").sort_index()
    assert len(bars) > WARMUP_BARS
    feats = compute_features(bars)
    assert np.isfinite(feats.iloc[WARMUP_BARS:].to_numpy()).all()


# --- scaler ---------------------------------------------------------------------------------


def test_scaler_survives_a_json_round_trip():
    feats = compute_features(random_bars(300, seed=8))
    scaler = Scaler.fit(feats.iloc[:200], clip=4.0)
    restored = Scaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert restored == scaler
    pd.testing.assert_frame_equal(restored.transform(feats), scaler.transform(feats))


def test_scaler_fit_uses_only_the_rows_given_and_skips_warmup_rows():
    feats = compute_features(random_bars(300, seed=9))
    train = feats.iloc[:150]  # first WARMUP_BARS rows are NaN and must be ignored
    scaler = Scaler.fit(train)
    np.testing.assert_allclose(scaler.mean, train.iloc[WARMUP_BARS:].mean().to_numpy())
    np.testing.assert_allclose(scaler.std, train.iloc[WARMUP_BARS:].std(ddof=0).to_numpy())
    # Wild values after the training period do not move the statistics.
    later = feats.copy()
    later.iloc[150:] = 1e6
    assert Scaler.fit(later.iloc[:150]) == scaler


def test_scaler_transform_clips_keeps_nan_and_floors_constant_features():
    feats = pd.DataFrame({"a": [np.nan, 0.0, 1.0, 2.0, 100.0], "b": [np.nan, 3.0, 3.0, 3.0, 3.0]})
    scaler = Scaler.fit(feats.iloc[:4])
    z = scaler.transform(feats)
    assert z.iloc[0].isna().all()
    assert z["a"].iloc[4] == 5.0  # clipped
    assert (z["b"].iloc[1:] == 0.0).all()  # std floored: constant feature -> 0, not inf


def test_scaler_with_other_feature_names_is_rejected():
    feats = compute_features(random_bars(200, seed=10))
    stored = Scaler.fit(feats.iloc[:150]).to_dict()
    stored["names"] = [n for n in stored["names"] if n != "rsi_14"] + ["rsi_21"]
    with pytest.raises(ValueError, match=r"missing \['rsi_14'\], unexpected \['rsi_21'\]"):
        Scaler.from_dict(stored)


def test_scaler_fit_without_complete_rows_says_why():
    with pytest.raises(ValueError, match="warm-up"):
        Scaler.fit(compute_features(random_bars(50)))


# --- windows -------------------------------------------------------------------------------


def test_make_windows_shapes_and_alignment():
    matrix = np.arange(30 * 3, dtype=np.float64).reshape(30, 3)
    matrix[:4] = np.nan  # warm-up
    matrix[12, 1] = np.inf  # one bad row in the middle
    windows, end_idx = make_windows(matrix, 5)
    expected_ends = [t for t in range(4, 30) if t - 4 >= 4 and not (t - 4 <= 12 <= t)]
    assert windows.dtype == np.float32 and end_idx.dtype == np.int64
    assert windows.shape == (len(expected_ends), 5, 3) and windows.flags.c_contiguous
    assert end_idx.tolist() == expected_ends
    for w, e in zip(windows, end_idx):
        np.testing.assert_array_equal(w, matrix[e - 5 + 1: e + 1].astype(np.float32))


def test_make_windows_view_matches_copy_and_short_input_gives_no_windows():
    matrix = np.random.default_rng(11).normal(size=(50, 4))
    windows, end_idx = make_windows(matrix, 8)
    view, view_end = make_windows(matrix, 8, copy=False)
    np.testing.assert_array_equal(view, windows)
    np.testing.assert_array_equal(view_end, end_idx)
    assert end_idx.tolist() == list(range(7, 50))
    empty, empty_end = make_windows(matrix[:5], 8)
    assert empty.shape == (0, 8, 4) and empty_end.shape == (0,)


# --- labels --------------------------------------------------------------------------------


def test_labels_on_a_hand_computed_series():
    close = [100.0, 101.0, 99.0, 102.0, 104.0, 103.0, 90.0, 103.0]
    bars = random_bars(len(close)).assign(open=close, high=close, low=close, close=close)
    labels = make_labels(bars, horizon=2, threshold_k=0.5, vol_lookback=3)

    # t = 3: last three simple returns up to t are 101/100-1, 99/101-1, 102/99-1.
    sigma = statistics.stdev([101 / 100 - 1, 99 / 101 - 1, 102 / 99 - 1])
    threshold = 0.5 * sigma * math.sqrt(2)  # ~0.0334
    assert labels["fwd_return"].iloc[3] == pytest.approx(103 / 102 - 1)  # +0.98 % < threshold: flat
    assert labels["direction"].iloc[3] == 1.0 and 103 / 102 - 1 < threshold
    assert labels["fwd_return"].iloc[4] == pytest.approx(90 / 104 - 1)  # -13.5 %: short
    assert labels["direction"].iloc[4] == 0.0
    assert labels["fwd_return"].iloc[5] == pytest.approx(103 / 103 - 1)  # 0: flat
    assert labels["direction"].iloc[5] == 1.0
    # No threshold before 3 returns exist; no outcome in the last h = 2 rows.
    assert labels["direction"].isna().tolist() == [True, True, True, False, False, False, True, True]
    assert labels["fwd_return"].isna().tolist() == [False] * 6 + [True, True]


def test_labels_go_long_on_a_rise_beyond_the_threshold():
    close = [100.0, 101.0, 100.0, 101.0, 100.0, 110.0]
    bars = random_bars(len(close)).assign(open=close, high=close, low=close, close=close)
    labels = make_labels(bars, horizon=1, threshold_k=0.5, vol_lookback=3)
    assert labels["direction"].iloc[4] == 2.0 and DIRECTION_CLASSES[2] == "long"


# --- spec and dataset -----------------------------------------------------------------------


def test_feature_spec_round_trips_and_checks_the_code():
    spec = FeatureSpec(window=32, horizon=3, threshold_k=0.25)
    assert FeatureSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.min_bars == WARMUP_BARS + 32
    spec.check_matches_code()
    with pytest.raises(ValueError, match="retrain"):
        FeatureSpec(version="0").check_matches_code()


def test_build_dataset_aligns_windows_times_and_labels():
    bars = random_bars(200, seed=12)
    scaler = Scaler.fit(compute_features(bars.iloc[:120]))
    ds = build_dataset(bars, window=10, scaler=scaler, horizon=5)
    first_end = WARMUP_BARS + 10 - 1
    assert len(ds) == 200 - first_end and ds.X.shape == (len(ds), 10, len(FEATURE_NAMES))
    assert ds.X.dtype == np.float32 and ds.end_idx[0] == first_end
    assert ds.times.equals(bars.index[ds.end_idx])
    labels = make_labels(bars, horizon=5)
    np.testing.assert_array_equal(ds.direction, labels["direction"].to_numpy()[ds.end_idx])
    assert ds.labelled.sum() == len(ds) - 5  # only the last horizon windows lack an outcome
    assert ds.spec.window == 10 and ds.spec.horizon == 5


def test_build_dataset_on_too_few_bars_says_how_many_are_needed():
    bars = random_bars(WARMUP_BARS + 5, seed=13)
    scaler = Scaler.fit(compute_features(random_bars(200, seed=13)))
    with pytest.raises(InsufficientDataError, match=str(WARMUP_BARS + 10)):
        build_dataset(bars, window=10, scaler=scaler)


# ----------------------------------------------------------------------------- data artefacts

def test_opens_equal_to_the_previous_close_in_a_run_are_missing_and_single_ones_are_not():
    from hrm_core.data.quality import RUN_BARS, missing_opens, missing_opens_note

    n = 120
    close = 100 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.01, n)))
    prev = np.concatenate(([close[0]], close[:-1]))
    real = prev * np.exp(np.random.default_rng(4).normal(0, 0.003, n))
    opens = np.where(np.arange(n) < 60, prev, real)  # a vendor filled the first 60 opens with the previous close
    opens[90] = prev[90]  # one real open that happens to equal the previous close
    idx = pd.date_range("2020-01-01", periods=n, freq="B", tz="UTC", name="time")
    b = pd.DataFrame({"open": opens, "high": np.maximum(opens, close) * 1.01, "low": np.minimum(opens, close) * 0.99,
                      "close": close, "volume": 1e6}, index=idx)
    miss = missing_opens(b)
    assert miss[1:60].all() and not miss[60:].any()  # the run, and not the lone coincidence at bar 90
    early = b.iloc[:RUN_BARS + 5].copy()  # causal: the rule for bar t reads bars <= t only
    assert (missing_opens(early) == miss[: len(early)]).all()
    note = missing_opens_note(b)
    assert "59 bars" in note and "2020-03-24" in note
    assert compute_features(b)["gap"].iloc[WARMUP_BARS:60].eq(0).all()  # the documented fill: exactly 0


def test_the_sample_s_artefact_opens_are_named_in_the_data_note():
    from hrm_core.data.market import load_bars
    from hrm_core.data.quality import missing_opens
    from hrm_core.settings import Settings

    res = load_bars("^GSPC", "1d", settings=Settings())
    miss = pd.Series(missing_opens(res.bars), index=res.bars.index)
    assert miss.loc["1999":"2005"].mean() > 0.9 and not miss.loc["2016":"2018"].any()
    assert res.quality_note.startswith("opens missing") and load_bars("^IXIC", "1d", settings=Settings()).quality_note is None
