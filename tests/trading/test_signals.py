"""Signals: one row per bar with bounded positions, a real SQLite cache, non-finite -> flat, causality, CLI."""
import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
import torch

from hrm_core.model.checkpoint import LoadedModel
from hrm_core.model.config import get_preset
from hrm_core.data.features import FEATURE_NAMES, WARMUP_BARS, FeatureSpec, Scaler, compute_features
from hrm_core.model.networks import build_model
from hrm_core.trading.signals import TABLE_COLUMNS, build_table, generate_signals, run_model

torch.set_num_threads(1)


def make_bars(n: int = 260, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.002, n))
    idx = pd.date_range("2015-01-01", periods=n, freq="D", tz="UTC", name="time")
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * 1.004, "low": np.minimum(open_, close) * 0.996,
                         "close": close, "volume": rng.uniform(1e6, 2e6, n)}, index=idx)


def tiny_loaded(name: str = "tiny", bars: pd.DataFrame | None = None, **overrides) -> LoadedModel:
    torch.manual_seed(0)
    cfg = get_preset("tiny", n_features=len(FEATURE_NAMES), **overrides)
    bars = make_bars() if bars is None else bars
    scaler = Scaler.fit(compute_features(bars.iloc[:150]))
    return LoadedModel(model=build_model(cfg).eval(), config=cfg, feature_spec=FeatureSpec(window=cfg.window),
                       scaler=scaler, instruments={"TEST": 1}, intervals=("1d",),
                       periods={"train": ["2015-01-01", "2015-05-31"], "validation": ["2015-06-01", "2015-06-30"],
                                "test": ["2015-07-01", "2015-12-31"]},
                       metrics={}, data_hash="synthetic", package_version="test", name=name, path="")


@pytest.fixture
def bars():
    return make_bars()


@pytest.fixture
def loaded(bars):
    return tiny_loaded(bars=bars)


def test_table_has_one_row_per_bar_with_bounded_positions_and_probabilities(loaded, bars):
    res = generate_signals(loaded, bars, symbol="TEST", interval="1d")
    t = res.table
    assert list(t.columns) == list(TABLE_COLUMNS)
    assert t.index.equals(bars.index) and t.index.name == "time"
    warm = WARMUP_BARS + loaded.config.window - 1  # bars before the first complete window
    assert res.n_warmup == warm and (t["status"].iloc[:warm] == "warmup").all()
    ok = t[t["status"] == "ok"]
    assert len(ok) == len(bars) - warm
    assert t["position"].between(-1, 1).all() and np.isfinite(t["position"]).all()
    assert np.allclose(ok[["p_short", "p_flat", "p_long"]].sum(axis=1), 1.0, atol=1e-6)
    assert ok["steps"].between(1, loaded.config.max_segments).all()
    assert (ok["confidence"] == ok[["p_short", "p_flat", "p_long"]].max(axis=1)).all()
    assert (ok["margin"] >= 0).all()  # argmax rule (this checkpoint): the winner's lead over the runner-up
    assert (t["size"] == t["position"].abs()).all()
    # argmax rule: the action shown is the book held
    assert (np.sign(ok["position"])[ok["action"] == "long"] >= 0).all()
    assert (ok.loc[ok["action"] == "short", "position"] <= 0).all()
    assert (ok.loc[ok["action"] == "flat", "position"] == 0).all()
    assert (t.loc[t["status"] == "warmup", "position"] == 0).all()
    assert (t["model"] == res.model_id).all() and res.model_id.startswith("tiny@")
    assert not res.cached and res.n_nonfinite == 0


def test_full_depth_actions_are_the_table_of_a_model_run_at_every_segment(bars):
    from dataclasses import replace

    from hrm_core.trading.signals import full_depth_actions

    loaded = tiny_loaded(bars=bars)
    with torch.no_grad():  # a halting head that stops some decisions after one segment
        loaded.model.heads.q.proj.weight.normal_(0, 3.0)
    table = generate_signals(loaded, bars, symbol="TEST", interval="1d").table
    times = table.index[table["status"] == "ok"][-30:]
    full = full_depth_actions(loaded, bars, times, symbol="TEST", interval="1d")
    cfg = loaded.config
    maxed = replace(loaded, model=build_model(replace(cfg, inference_mode="max")).eval(),
                    config=replace(cfg, inference_mode="max"))
    maxed.model.load_state_dict(loaded.model.state_dict())
    expected = generate_signals(maxed, bars, symbol="TEST", interval="1d").table.loc[times, "action"]
    pd.testing.assert_series_equal(full, expected, check_names=False, check_freq=False)
    assert full_depth_actions(maxed, bars, times, symbol="TEST", interval="1d") is None  # it always runs every segment


def test_the_margin_is_how_far_the_edge_clears_the_band():
    from hrm_core.model.position_rule import DecisionRule

    rule = DecisionRule("edge", scale=0.2, band=0.1, centre=0.02)
    p = np.array([[0.2, 0.3, 0.5], [0.3, 0.35, 0.35], [0.5, 0.3, 0.2]])
    margin = rule.margin(p)
    assert np.allclose(margin, [0.18, -0.07, 0.22])  # |0.3 - 0.02| - 0.1, |0.05 - 0.02| - 0.1, |-0.3 - 0.02| - 0.1
    flat = rule.positions(p, np.ones(3)) == 0
    assert ((margin < 0) == flat).all()  # inside the band exactly when the book is flat


def test_expected_rule_is_p_long_minus_p_short_times_quantity(loaded, bars):
    t = generate_signals(loaded, bars, symbol="TEST", interval="1d", position_rule="expected").table
    ok = t[t["status"] == "ok"]
    assert np.allclose(ok["position"], (ok["p_long"] - ok["p_short"]) * ok["quantity"])


def test_second_request_is_served_from_a_real_sqlite_file_without_running_the_model(loaded, bars, tmp_path, monkeypatch):
    db = tmp_path / "signals.db"
    first = generate_signals(loaded, bars, symbol="TEST", interval="1d", cache=db)
    assert db.exists() and not first.cached
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM signal_rows").fetchone()[0] == len(bars)

    def boom(*a, **k):
        raise AssertionError("the model ran on a cache hit")

    monkeypatch.setattr(loaded.model, "infer", boom)
    second = generate_signals(loaded, bars, symbol="TEST", interval="1d", cache=db)
    assert second.cached
    pd.testing.assert_frame_equal(second.table.drop(columns="latency_ms"), first.table.drop(columns="latency_ms"),
                                  check_exact=False, rtol=1e-12)
    # other data -> a different key -> the model must run (and here it cannot)
    with pytest.raises(AssertionError, match="model ran"):
        generate_signals(loaded, bars.iloc[:-1], symbol="TEST", interval="1d", cache=db)


def test_four_concurrent_requests_of_the_same_key_run_the_model_once(loaded, bars, tmp_path, monkeypatch):
    """Single flight: four sessions asking at once wait for one computation and read its stored rows."""
    import threading

    import hrm_core.trading.signals as signals

    calls, started, release = [], threading.Event(), threading.Event()
    real = signals.run_model

    def slow_run_model(*a, **k):
        calls.append(1)
        started.set()
        release.wait(30)  # hold the computation until every request is waiting on it
        return real(*a, **k)

    monkeypatch.setattr(signals, "run_model", slow_run_model)
    db = tmp_path / "signals.db"
    results = [None] * 4

    def request(i):
        results[i] = generate_signals(loaded, bars, symbol="TEST", interval="1d", cache=db)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    assert started.wait(30)
    release.set()
    for t in threads:
        t.join(60)
    assert len(calls) == 1 and sum(not r.cached for r in results) == 1 and sum(r.cached for r in results) == 3
    for r in results[1:]:
        pd.testing.assert_frame_equal(r.table.drop(columns="latency_ms"), results[0].table.drop(columns="latency_ms"),
                                      check_exact=False, rtol=1e-12)


def test_a_retrained_model_with_the_same_name_config_and_scaler_never_gets_the_old_signals(loaded, bars, tmp_path):
    """Retraining keeps the name, config and scaler and changes only weights: the cache key must see it."""
    db = tmp_path / "signals.db"
    old = generate_signals(loaded, bars, symbol="TEST", interval="1d", cache=db)
    retrained = tiny_loaded(bars=bars)
    with torch.no_grad():
        for p in retrained.model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    new = generate_signals(retrained, bars, symbol="TEST", interval="1d", cache=db)
    assert not new.cached and new.model_id != old.model_id
    fresh = generate_signals(retrained, bars, symbol="TEST", interval="1d")  # no cache at all
    pd.testing.assert_frame_equal(new.table.drop(columns="latency_ms"), fresh.table.drop(columns="latency_ms"))
    assert not np.allclose(new.table["p_long"].dropna(), old.table["p_long"].dropna())


def test_nonfinite_outputs_become_flat_and_are_counted(loaded, bars, monkeypatch):
    real = loaded.model.infer
    corrupted = []

    def flaky(x, instrument_id, timeframe_id, **kw):
        out = real(x, instrument_id, timeframe_id, **kw)
        bad = x[:, -1, 0] > 0  # data-dependent: rows whose last 1-bar return is above its training mean
        out.policy_logits[bad] = float("nan")
        out.quantity[bad] = float("inf")
        out.finite = out.finite & ~bad
        corrupted.append(int(bad.sum()))
        return out

    monkeypatch.setattr(loaded.model, "infer", flaky)
    res = generate_signals(loaded, bars, symbol="TEST", interval="1d")
    t = res.table
    assert res.n_nonfinite == sum(corrupted) > 0
    bad = t[t["status"] == "nonfinite"]
    assert (bad["position"] == 0).all() and (bad["action"] == "flat").all() and bad["p_long"].isna().all()
    assert res.summary()["nonfinite"] == res.n_nonfinite


def test_build_table_flattens_rows_whose_finite_flag_is_false():
    idx = pd.date_range("2020-01-01", periods=3, tz="UTC", name="time")
    raw = pd.DataFrame({"p_short": [0.1, 0.7, np.nan], "p_flat": [0.1, 0.2, np.nan], "p_long": [0.8, 0.1, np.nan],
                        "quantity": [0.5, 0.4, np.nan], "value": [0.0, 0.0, np.nan], "steps": [2, 1, 0],
                        "finite": [1, 0, 0], "latency_ms": [0.1, 0.1, np.nan]}, index=idx)
    t = build_table(raw, model_id="m")
    assert t["status"].tolist() == ["ok", "nonfinite", "warmup"]
    assert t["position"].tolist() == [0.5, 0.0, 0.0]
    assert t["action"].tolist() == ["long", "flat", "flat"]


def test_signals_up_to_t_do_not_change_when_later_bars_change(loaded, bars):
    t_cut = 200
    changed = bars.copy()
    rng = np.random.default_rng(1)
    shock = np.exp(rng.normal(0, 0.05, len(bars) - t_cut - 1))
    for col in ("open", "high", "low", "close"):
        changed.iloc[t_cut + 1:, changed.columns.get_loc(col)] *= shock
    changed.iloc[t_cut + 1:, changed.columns.get_loc("volume")] *= 3.0
    a = generate_signals(loaded, bars, symbol="TEST", interval="1d").table
    b = generate_signals(loaded, changed, symbol="TEST", interval="1d").table
    cols = ["position", "p_short", "p_flat", "p_long", "quantity", "value", "steps"]
    pd.testing.assert_frame_equal(a[cols].iloc[:t_cut + 1], b[cols].iloc[:t_cut + 1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(a["p_long"].iloc[t_cut + 1:], b["p_long"].iloc[t_cut + 1:])  # the perturbation bites


def test_raw_outputs_are_independent_of_batch_size(loaded, bars):
    a = run_model(loaded, bars, symbol="TEST", interval="1d", batch_size=7)
    b = run_model(loaded, bars, symbol="TEST", interval="1d", batch_size=512)
    cols = ["p_short", "p_flat", "p_long", "quantity", "value", "steps"]
    pd.testing.assert_frame_equal(a[cols], b[cols], rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- CLI

@pytest.fixture
def cli_env(tmp_path, offline_settings):
    """Settings in tmp_path (cache, signal db, models) and a tiny checkpoint saved as models/hrm-default."""
    from hrm_core.model.checkpoint import save_checkpoint
    from hrm_core.data.market import load_bars
    from hrm_core.settings import load_settings

    toml = offline_settings(models_dir=tmp_path / "models")
    sample = load_bars("^GSPC", "1d", settings=load_settings(toml)).bars
    loaded = tiny_loaded("hrm-default", bars=sample.loc[:"2012"])
    save_checkpoint(tmp_path / "models" / "hrm-default", loaded.model, feature_spec=loaded.feature_spec,
                    scaler=loaded.scaler, instruments={"^GSPC": 1}, intervals=["1d"],
                    periods={"train": ["1999-01-01", "2012-12-31"], "validation": ["2013-01-01", "2015-12-31"],
                             "test": ["2016-01-01", "2018-12-31"]},
                    metrics={}, data_hash="sample", name="hrm-default")
    return tmp_path


def test_cli_signals_json_works_offline_and_writes_only_to_tmp(cli_env, capsys):
    import hrm_cli

    assert hrm_cli.main(["signals", "--symbol", "^GSPC", "--start", "2018-12-01", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["symbol"] == "^GSPC" and out["model"].startswith("hrm-default@") and not out["cached"]
    rows = out["signals_table"]
    assert rows and rows[0]["time"].startswith("2018-12") and set(TABLE_COLUMNS) <= set(rows[0])
    assert all(-1 <= r["position"] <= 1 for r in rows)
    assert (cli_env / "signals.db").exists()
    assert hrm_cli.main(["signals", "--symbol", "^GSPC", "--rows", "3", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["cached"] and len(again["signals_table"]) == 3


def test_cli_signals_reads_a_user_csv(cli_env, capsys):
    import hrm_cli

    csv = cli_env / "mine.csv"
    make_bars(200).reset_index().rename(columns={"time": "Date"}).to_csv(csv, index=False)
    assert hrm_cli.main(["signals", "--csv", str(csv), "--rows", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == 200 and len(out["signals_table"]) == 5


def test_cli_signals_without_a_model_is_one_clear_error(tmp_path, monkeypatch, capsys):
    import hrm_cli

    toml = tmp_path / "hrm.toml"
    toml.write_text(f'[data]\ncache_db = "{tmp_path / "market.db"}"\nmodels_dir = "{tmp_path / "none"}"\n')
    monkeypatch.setenv("HRM_SETTINGS", str(toml))
    monkeypatch.setenv("HRM_OFFLINE", "1")
    assert hrm_cli.main(["signals", "--symbol", "^GSPC", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hrm: error:") and "Traceback" not in err


def test_the_model_fingerprint_changes_with_the_position_rule_alone(loaded):
    """Same weights, another rule: other actions, so every cache keyed by the fingerprint must see another model."""
    from dataclasses import replace

    from hrm_core.trading.signals import model_fingerprint

    edge = {"decision": {"rule": "edge", "scale": 0.1, "band": 0.02, "centre": 0.0}}
    wider = {"decision": {"rule": "edge", "scale": 0.1, "band": 0.05, "centre": 0.0}}
    ids = {model_fingerprint(replace(loaded, metrics=m)) for m in ({}, edge, wider)}
    assert len(ids) == 3
