"""Bad inputs and faults (issue 12): each case is an input, the exit code and the words of the message.

Every CLI case also asserts that no traceback is printed and that no data changed (cache bytes,
files outside models/). The CLI runs in-process (`hrm_cli.main`) where it can; real processes
are used where the fault needs one: two writers on one signal key, a read-only folder, a lock
held by another process.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import hrm_cli
from hrm_core.data.bars import normalise_columns, resample_bars, session_calendar
from hrm_core.model.checkpoint import save_checkpoint
from hrm_core.model.config import ModelConfig, get_preset
from hrm_core.errors import DataError, ModelError
from hrm_core.data.features import FEATURE_NAMES, FEATURE_VERSION, WARMUP_BARS, FeatureSpec, Scaler, compute_features
from hrm_core.data.identity import check_model_name
from hrm_core.trading.metrics import periods_per_year_of
from hrm_core.model.networks import build_model

ROOT = Path(__file__).resolve().parent.parent
PERIODS = {"train": ["1999-01-01", "2012-12-31"], "validation": ["2013-01-01", "2015-12-31"],
           "test": ["2016-01-01", "2018-12-31"]}
torch.set_num_threads(1)


# ----------------------------------------------------------------------------- helpers

def _bars(n: int = 300, freq: str = "D", start: str = "2015-01-01", seed: int = 0) -> pd.DataFrame:
    """Valid synthetic bars (for scalers and user files)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.01, n)))
    idx = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="time")
    return pd.DataFrame({"open": close, "high": close * 1.01, "low": close * 0.99, "close": close,
                         "volume": rng.uniform(1e6, 2e6, n)}, index=idx)


def save_tiny(path: Path, **edits) -> Path:
    """A tiny checkpoint trained on ^GSPC 1d (untrained weights: the faults are what matters)."""
    torch.manual_seed(0)
    cfg = get_preset("tiny", n_features=len(FEATURE_NAMES))
    scaler = Scaler.fit(compute_features(_bars()))
    return save_checkpoint(path, build_model(cfg).eval(), feature_spec=FeatureSpec(window=cfg.window), scaler=scaler,
                           instruments={"^GSPC": 1}, intervals=["1d"], periods=PERIODS, metrics={},
                           data_hash="synthetic", name=path.name, **edits)


def craft(src: Path, dest: Path, **config_edits) -> Path:
    """A copy of checkpoint `src` whose stored config (or metadata, key 'meta') was edited: untrusted input."""
    payload = torch.load(src, map_location="cpu", weights_only=True)
    payload.update(config_edits.pop("meta", {}))
    payload["config"] = {**payload["config"], **config_edits}
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, dest)
    return dest


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def cached_rows(db: Path) -> tuple[list, list]:
    """Every row of the market-data cache (bytes move with WAL checkpoints; the data must not)."""
    with sqlite3.connect(db) as conn:
        return (conn.execute("SELECT * FROM bars ORDER BY symbol, interval, time").fetchall(),
                conn.execute("SELECT * FROM series ORDER BY symbol, interval").fetchall())


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("ckpt") / "hrm-default")


@pytest.fixture
def env(tmp_path, monkeypatch, tiny_ckpt):
    """Offline settings in tmp_path: cache, signal db, models/hrm-default (tiny), 1 s cache timeout."""
    models = tmp_path / "models"
    shutil.copytree(tiny_ckpt.parent, models / "hrm-default")
    toml = tmp_path / "hrm.toml"
    toml.write_text(f'[data]\ncache_db = "{tmp_path / "market.db"}"\nmodels_dir = "{models}"\ncache_timeout_s = 1.0\n')
    monkeypatch.setenv("HRM_OFFLINE", "1")
    monkeypatch.setenv("HRM_SETTINGS", str(toml))
    return tmp_path


@pytest.fixture
def hrm(capsys):
    """hrm(*args) -> (exit code, stdout, stderr), in-process; never a traceback."""
    def run(*args: str) -> tuple[int, str, str]:
        code = hrm_cli.main(list(args))
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err
    return run


def subprocess_env(tmp_path: Path) -> dict:
    return {"HRM_OFFLINE": "1", "HRM_SETTINGS": str(tmp_path / "hrm.toml"), "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT)}


def write_settings(tmp_path: Path, body: str) -> Path:
    toml = tmp_path / "bad.toml"
    toml.write_text(body)
    return toml


# ----------------------------------------------------------------------------- 1. model names

@pytest.mark.parametrize("name", ["../escaped", "/tmp/abs", "a/b", "..", "a\\b", " ", "x" * 101, ".hidden"])
def test_train_refuses_a_model_name_that_leaves_models(env, hrm, name):
    code, _, err = hrm("train", "--preset", "tiny", "--out", name, "--epochs", "1")
    assert code == 2 and "invalid model name" in err
    assert not (env / "escaped").exists() and sorted(p.name for p in (env / "models").iterdir()) == ["hrm-default"]


def test_model_name_helper_keeps_ordinary_names():
    assert check_model_name(" my-model_1.2 ") == "my-model_1.2"


def test_train_and_save_checks_the_name_before_training(env, monkeypatch):
    from hrm_core.training import train as train_mod

    monkeypatch.setattr(train_mod, "train", lambda *a, **k: pytest.fail("trained with a bad name"))
    with pytest.raises(ModelError, match="invalid model name"):
        train_mod.train_and_save(train_mod.TrainConfig(preset="tiny"), "../escaped", models_dir=env / "models")


def test_train_page_refuses_an_escaping_name_and_dates_reach_past_2009(env):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("views/train.py")
    at.run()
    assert str(at.date_input(key="train.train_start").proto.max) >= str(dt.date.today().year)
    at.date_input(key="train.train_start").set_value(dt.date(2012, 1, 2))  # the default is 1999
    at.text_input(key="train.name").set_value("../escaped")
    at.button(key="train.go").click()
    at.run()
    assert at.date_input(key="train.train_start").value == dt.date(2012, 1, 2)
    assert any("invalid model name" in e.value for e in at.error)
    assert not (env / "escaped").exists() and not (ROOT / "escaped").exists()


# ----------------------------------------------------------------------------- 2. checkpoint configs

@pytest.mark.parametrize("edit, words", [
    ({"n_instruments": 2 ** 40}, "n_instruments must be between"),
    ({"h_cycles": 200000}, "h_cycles must be between"),
    ({"hidden": 10 ** 6}, "hidden must be between"),
    ({"h_cycles": 60, "l_cycles": 60, "max_segments": 60}, "too slow"),
    ({"act": "yes"}, "act must be true or false"),
    ({"window": "16"}, "window must be an integer"),
    ({"rope_theta": float("nan")}, "rope_theta must be between"),
    ({"meta": {"instruments": ["^GSPC"]}}, "malformed vocabulary"),
    ({"meta": {"intervals": "1d"}}, "malformed vocabulary"),
    ({"meta": {"feature_spec": {"names": list(FEATURE_NAMES), "version": FEATURE_VERSION, "window": 16,
                                "horizon": 10 ** 12, "threshold_k": 0.5, "warmup": WARMUP_BARS, "vol_lookback": 20}}},
     "horizon must be between"),
])
def test_checkpoint_config_out_of_bounds_is_refused_in_one_line(env, hrm, edit, words):
    bad = craft(env / "models" / "hrm-default" / "model.pt", env / "bad" / "model.pt", **edit)
    before = digest(bad)
    t0 = time.perf_counter()
    code, _, err = hrm("signals", "--symbol", "^GSPC", "--model", str(bad), "--rows", "1")
    assert code == 2 and words in err and err.count("\n") == 1
    assert time.perf_counter() - t0 < 30 and digest(bad) == before


def test_model_info_on_a_huge_config_is_refused(env, hrm):
    bad = craft(env / "models" / "hrm-default" / "model.pt", env / "huge.pt", n_instruments=2 ** 40)
    code, _, err = hrm("model", "info", "--model", str(bad))
    assert code == 2 and "n_instruments" in err and "does not match this code" in err


def test_override_beyond_bounds_is_refused_before_training(env, hrm):
    code, _, err = hrm("train", "--preset", "tiny", "--override", "h_cycles=200000", "--out", "x")
    assert code == 2 and "h_cycles must be between 1 and 64" in err


# ----------------------------------------------------------------------------- 3. settings

@pytest.mark.parametrize("body, words", [
    ("[data]\ncache_db = 123\n", ["data.cache_db", "a string", "123"]),
    ('[data]\nmax_age_hours = "twelve"\n', ["data.max_age_hours", "a number", "'twelve'"]),
    ('[costs]\ncommission_bps = "abc"\n', ["costs.commission_bps", "a number", "'abc'"]),
    ("[risk]\nvol_lookback = 2.5\n", ["risk.vol_lookback", "a whole number", "2.5"]),
    ('[data]\ndefault_symbols = "^GSPC"\n', ["data.default_symbols", "a list of strings", "'^GSPC'"]),
    ("[cost]\ncommission_bps = 1\n", ["unknown section", "[cost]", "[costs]"]),
    ("[data]\ncache = 1\n", ["unknown setting", "cache", "cache_db"]),
    ("[data\ncache_db = 1\n", ["bad.toml", "not valid TOML"]),
    ('[health]\nperf_red_sd = "high"\n', ["health.perf_red_sd", "a number", "'high'"]),
    ("[health]\npsi_red = 0.25\n", ["unknown setting", "psi_red", "drift_red_rate"]),  # PSI thresholds are calibrated now
    ("data = 3\n", ["data must be a [data] section"]),
    ("[data]\ncache_timeout_s = 1e9\n", ["data:", "cache_timeout_s must be between 0 and 600"]),
    ("[costs]\ncommission_bps = -5\n", ["costs:", "commission_bps must be >= 0", "-5"]),
    ("[costs]\nslippage_bps = -0.1\n", ["costs:", "slippage_bps must be >= 0"]),
    ("[health]\nperf_amber_sd = 4\nperf_red_sd = 3\n", ["health:", "perf_amber_sd = 4.0 is above perf_red_sd = 3.0"]),
    ("[health]\ndrift_red_rate = 0.1\n", ["health:", "drift_red_rate = 0.1 is above drift_amber_rate = 0.05"]),
    ("[health]\nlatency_p95_amber_ms = 2000\n", ["health:", "latency_p95_amber_ms", "latency_p95_red_ms"]),
    ("[health]\nstale_amber_bars = 20\n", ["health:", "stale_amber_bars", "stale_red_bars"]),
    ("[health]\ndrift_amber_rate = 1.5\n", ["health:", "drift_amber_rate is a fraction", "between 0 and 1"]),
    ("[health]\nfallback_red_share = -0.2\n", ["health:", "fallback_red_share is a fraction"]),
    ("[health]\nmin_drift_bars = -3\n", ["health:", "min_drift_bars must be >= 0"]),
    ("[risk]\nmax_abs_position = 2\n", ["risk:", "max_abs_position must be in (0, 1]", "no leverage"]),
    ("[risk]\ndrawdown_brake = 1.5\n", ["risk:", "drawdown_brake must be in [0, 1)"]),
    ("[risk]\nvol_target_annual = -0.1\n", ["risk:", "vol_target_annual must be >= 0"]),
])
def test_bad_settings_name_the_file_key_type_and_value(env, hrm, body, words):
    toml = write_settings(env, body)
    code, _, err = hrm("--settings", str(toml), "data", "list")
    assert code == 2 and err.startswith("hrm: error:")
    assert all(w in err for w in words), err
    assert str(toml) in err and not (env / "market.db").exists()


@pytest.mark.parametrize("argv, words", [
    (["explain", "--symbol", "^GSPC", "--at", "2017-06-01", "--n-steps", "0"], ["--n-steps", "between 2 and 512"]),
    (["explain", "--symbol", "^GSPC", "--at", "2017-06-01", "--n-steps", "100000"], ["--n-steps", "between 2 and 512"]),
    (["diagnose", "--symbol", "^GSPC", "--n-boot", "-1"], ["--n-boot", "between 0 and 100000"]),
    (["diagnose", "--symbol", "^GSPC", "--n-boot", "many"], ["--n-boot", "not a whole number"]),
    (["backtest", "--symbol", "^GSPC", "--n-boot", "1000000000"], ["--n-boot", "between 0 and 100000"]),
    (["evaluate", "--n-boot", "-5"], ["--n-boot", "between 0 and 100000"]),
])
def test_unbounded_counts_are_refused_by_the_parser_in_one_line(env, capsys, argv, words):
    with pytest.raises(SystemExit) as exc:
        hrm_cli.main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err
    assert all(w in err.splitlines()[-1] for w in words), err


def test_missing_settings_file_is_an_error_not_the_defaults(env, hrm, monkeypatch):
    code, _, err = hrm("--settings", str(env / "nope.toml"), "data", "list")
    assert code == 2 and "nope.toml" in err and "does not exist" in err and "--settings" in err
    monkeypatch.setenv("HRM_SETTINGS", str(env / "gone.toml"))
    code, _, err = hrm("data", "list")
    assert code == 2 and "gone.toml" in err and "$HRM_SETTINGS" in err


def test_default_symbols_list_is_read_as_symbols(env):
    from hrm_core.settings import load_settings

    toml = write_settings(env, '[data]\ndefault_symbols = ["^GSPC"]\n')
    assert load_settings(toml).data.default_symbols == ("^GSPC",)


# ----------------------------------------------------------------------------- 4. the signal cache

def test_corrupt_signal_cache_still_gives_signals_with_a_warning(env, hrm):
    db = env / "signals.db"
    db.write_bytes(b"this is not a database" * 100)
    before = digest(db)
    code, out, err = hrm("signals", "--symbol", "^GSPC", "--rows", "2")
    assert code == 0 and "long" in out
    assert "hrm: warning: signal cache" in err and "corrupt" in err
    assert digest(db) == before


def test_locked_signal_cache_still_gives_signals_quickly_without_delete_advice(env, hrm):
    db = env / "signals.db"
    with _held_lock(db):
        t0 = time.perf_counter()
        code, out, err = hrm("signals", "--symbol", "^GSPC", "--rows", "2")
        elapsed = time.perf_counter() - t0
    assert code == 0 and "locked by another process" in err and "delete" not in err
    assert elapsed < 20


def test_read_only_folder_still_gives_signals_in_a_real_process(env):
    folder = env / "ro"
    folder.mkdir()
    (env / "hrm.toml").write_text(f'[data]\ncache_db = "{folder / "market.db"}"\n'
                                  f'models_dir = "{env / "models"}"\ncache_timeout_s = 1.0\n')
    with _immutable(folder):
        done = subprocess.run([sys.executable, "-m", "hrm_cli", "signals", "--symbol", "^GSPC", "--rows", "2"],
                              cwd=ROOT, capture_output=True, text=True, env=subprocess_env(env), timeout=300)
        assert not any(folder.iterdir())
    assert done.returncode == 0, done.stderr
    assert "long" in done.stdout or "flat" in done.stdout
    assert "hrm: warning: signal cache" in done.stderr and "delete" not in done.stderr
    assert "Traceback" not in done.stderr


_WRITER = """
import sys
import numpy as np, pandas as pd
from hrm_core.trading.signals import SignalCache, RAW_COLUMNS
idx = pd.date_range("2020-01-01", periods=200, freq="D", tz="UTC", name="time")
raw = pd.DataFrame({c: np.linspace(0, 1, 200) for c in RAW_COLUMNS}, index=idx)
fails = 0
with SignalCache(sys.argv[1]) as cache:
    for _ in range(int(sys.argv[2])):
        fails += not cache.write("m@1", "SYM", "1d", "hash", raw)
        fails += cache.read("m@1", "SYM", "1d", "hash") is None
print(fails)
"""


def test_two_processes_writing_the_same_signal_key_never_fail(tmp_path):
    db = tmp_path / "signals.db"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(db), "150"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=240) for p in procs]
    assert [r[0].strip() for r in results] == ["0", "0"], results
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM signal_runs").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM signal_rows").fetchone()[0] == 200


def test_two_hrm_signals_processes_on_one_key_both_get_signals(env):
    cmd = [sys.executable, "-m", "hrm_cli", "signals", "--symbol", "^GSPC", "--rows", "1", "--json"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=subprocess_env(env)) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and '"signals_table"' in out, err
        assert "warning: signal cache" not in err and "Traceback" not in err


# ----------------------------------------------------------------------------- 5 + 6. the market-data cache

def _cache_with_sample(env: Path, edit_sql: str, *params) -> Path:
    """market.db holding ^GSPC 1d (from the sample), fresh, then damaged by `edit_sql`."""
    from hrm_core.data.cache import BarCache
    from hrm_core.data.market import load_bars
    from hrm_core.settings import load_settings

    bars = load_bars("^GSPC", "1d", settings=load_settings()).bars
    db = env / "market.db"
    with BarCache(db) as cache:
        cache.write("^GSPC", "1d", bars.iloc[-300:])
    with sqlite3.connect(db) as conn:
        conn.execute(edit_sql, params)
    return db


@pytest.mark.parametrize("sql, words", [
    ("UPDATE bars SET close = NULL WHERE rowid % 7 = 0", "column close has missing"),
    ("UPDATE bars SET low = -1 WHERE rowid % 5 = 0", "non-positive low"),
    ("UPDATE series SET fetched_at = 'garbage'", "is corrupt"),
    ("UPDATE series SET fetched_at = 12", "is corrupt"),
])
def test_broken_cached_bars_fall_back_to_the_sample_with_a_note(env, hrm, sql, words):
    db = _cache_with_sample(env, sql)
    before = cached_rows(db)
    code, out, err = hrm("data", "show", "^GSPC", "--json")
    assert code == 0 and '"source": "sample"' in out and '"rows": 5031' in out
    assert "hrm: warning: market-data cache" in err and words in err
    assert cached_rows(db) == before and len(before[0]) == 300


def test_cache_path_under_a_file_falls_back_to_the_sample(env, hrm):
    (env / "afile").write_text("x")
    (env / "hrm.toml").write_text(f'[data]\ncache_db = "{env / "afile" / "market.db"}"\n')
    code, out, err = hrm("data", "show", "^GSPC", "--json")
    assert code == 0 and '"source": "sample"' in out
    assert "is a file, not a folder" in err and (env / "afile").read_text() == "x"


def test_data_list_on_a_corrupt_cache_still_lists_the_sample(env, hrm):
    db = env / "market.db"
    db.write_bytes(b"\x00garbage" * 500)
    before = digest(db)
    code, out, err = hrm("data", "list")
    assert code == 0 and "^GSPC" in out and "sample" in out
    assert "hrm: warning: market-data cache" in err and "corrupt" in err and digest(db) == before


def test_locked_market_cache_costs_one_wait_and_no_delete_advice(env, hrm, monkeypatch):
    """A locked cache is waited for once (one open, then the sample), not once per read or write."""
    from hrm_core.data.cache import BarCache

    opens = []
    real_init = BarCache.__init__
    monkeypatch.setattr(BarCache, "__init__", lambda self, *a, **k: (opens.append(a), real_init(self, *a, **k))[1])
    db = env / "market.db"
    with _held_lock(db):
        code, out, err = hrm("data", "show", "^GSPC", "--json")
        assert code == 0 and '"source": "sample"' in out
        assert "locked by another process" in err and "delete" not in err
        assert len(opens) == 1
        # a download that succeeds is served without a second wait to cache it
        from hrm_core.data.market import load_bars
        from hrm_core.settings import load_settings

        sample = load_bars("^GSPC", "1d", settings=load_settings()).bars
        opens.clear()
        res = load_bars("^GSPC", "1d", settings=load_settings(), downloader=lambda *a, **k: sample.rename(
            columns=str.capitalize).tz_localize(None).rename_axis("Date"))
    assert res.source == "live" and "served without caching (the cache is locked)" in res.note
    assert len(opens) == 1


# ----------------------------------------------------------------------------- 7. sessions and intervals

def _fx_hours(years: int = 2) -> pd.DataFrame:
    """Hourly EURUSD-like bars: Sunday 17:00 to Friday 17:00 New York, every hour (24/5)."""
    idx = pd.date_range("2021-01-01", periods=years * 365 * 24, freq="1h", tz="UTC", name="time")
    fx_day = (idx.tz_convert("America/New_York").tz_localize(None) + pd.Timedelta(hours=7)).day_of_week
    idx = idx[np.asarray(fx_day) < 5]
    close = 1.1 + np.cumsum(np.random.default_rng(1).normal(0, 2e-4, len(idx)))
    return pd.DataFrame({"open": close, "high": close + 3e-4, "low": close - 3e-4, "close": close,
                         "volume": 0.0}, index=idx)


def test_24_5_hourly_bars_resample_to_one_bar_per_trading_day():
    hourly = _fx_hours()
    assert session_calendar(hourly.index) == "24/5"
    daily = resample_bars(hourly, "1d")
    assert set(np.asarray(daily.index.day_of_week)) == {0, 1, 2, 3, 4}  # no Sunday stubs
    per_year = daily.groupby(daily.index.year).size()
    assert per_year.between(250, 262).all(), per_year
    assert periods_per_year_of(daily.index, "1d") == 252.0
    monday = daily.loc["2021-01-04"]  # Sunday 17:00 NY -> Monday 17:00 NY: 24 hours, one bar
    assert monday["volume"] == 0.0 and daily.index.is_unique
    assert len(hourly.loc["2021-01-03 22:00":"2021-01-04 21:59"]) == 24


def test_24_7_and_exchange_hours_keep_utc_days():
    hourly = _bars(2 * 365 * 24, freq="1h", start="2021-01-01")
    assert session_calendar(hourly.index) == "24/7"
    assert len(resample_bars(hourly, "1d")) == 2 * 365
    stock = hourly[(hourly.index.hour >= 14) & (hourly.index.hour < 21) & (hourly.index.day_of_week < 5)]
    assert session_calendar(stock.index) == "exchange"
    assert resample_bars(stock, "1d").index.equals(stock.index.normalize().unique().rename("time"))


def test_daily_model_on_weekly_bars_warns(env, hrm):
    code, out, err = hrm("signals", "--symbol", "^GSPC", "--interval", "1wk", "--rows", "1")
    assert code == 0 and "trained on 1d bars, not 1wk" in err and "hrm: warning:" in err


def test_model_on_an_instrument_it_never_saw_warns(env, hrm):
    code, _, err = hrm("signals", "--symbol", "^IXIC", "--rows", "1")
    assert code == 0 and "not trained on ^IXIC" in err and "unknown instrument" in err


def test_backtest_report_carries_the_interval_warning(env, hrm):
    code, out, _ = hrm("backtest", "--symbol", "^GSPC", "--interval", "1wk", "--n-boot", "10", "--json")
    assert code == 0 and "trained on 1d bars, not 1wk" in out


@pytest.mark.parametrize("freq, interval, words", [
    ("MS", "1d", "no interval here is that coarse"),
    ("W-MON", "1d", "use --interval 1wk"),
])
def test_coarse_file_names_real_intervals(env, hrm, freq, interval, words):
    csv = env / "coarse.csv"
    _bars(120, freq=freq, start="2000-01-01").to_csv(csv)
    code, _, err = hrm("data", "show", "--csv", str(csv), "--interval", interval)
    assert code == 2 and words in err and "28 d or more" not in err


# ----------------------------------------------------------------------------- 8. messages

@pytest.mark.parametrize("args, words", [
    (["signals", "--symbol", "^GSPC", "--end", "2262-04-11"], "is out of range"),
    (["data", "show", "^GSPC", "--start", "99999-01-01"], "cannot read start date"),
    (["data", "show", "^GSPC", "--end", "yesterday-ish"], "is not a date"),
])
def test_bad_dates_are_one_clean_line(env, hrm, args, words):
    code, _, err = hrm(*args)
    assert code == 2 and words in err and err.count("\n") == 1 and "OutOfBounds" not in err


def test_missing_checkpoint_is_reported_as_the_path_given(env, hrm):
    given = str(env / "no-such-model")
    code, _, err = hrm("signals", "--symbol", "^GSPC", "--model", given)
    assert code == 2 and f"'{given}'" in err and "no-such-model/model.pt" not in err


def test_binary_file_is_refused_without_echoing_it(env, hrm):
    blob = env / "blob.csv"
    blob.write_bytes(bytes(range(256)) * 20)
    code, _, err = hrm("data", "show", "--csv", str(blob))
    assert code == 2 and "binary content" in err and len(err) < 300
    assert all(ch.isprintable() for ch in err.strip())


def test_garbage_parquet_and_long_headers_are_capped(env, hrm):
    pq = env / "x.parquet"
    pq.write_bytes(os.urandom(3000))
    code, _, err = hrm("data", "show", "--csv", str(pq))
    assert code == 2 and "cannot read as Parquet" in err and len(err) < 400
    wide = env / "wide.csv"
    wide.write_text(",".join(f"col{i}" for i in range(800)) + "\n" + ",".join("1" * 800) + "\n")
    code, _, err = hrm("data", "show", "--csv", str(wide))
    assert code == 2 and "no date column" in err and len(err) < 400


def test_semicolon_csv_is_read_and_the_delimiter_is_hinted_when_unread(env, hrm):
    csv = env / "semi.csv"
    _bars(50).reset_index().rename(columns={"time": "Date"}).to_csv(csv, sep=";", index=False)
    code, out, _ = hrm("data", "show", "--csv", str(csv), "--json")
    assert code == 0 and '"rows": 50' in out
    with pytest.raises(DataError, match="seems to use ';' as delimiter"):
        normalise_columns(pd.DataFrame({"Date;Open;High;Low;Close": ["2020-01-01;1;1;1;1"]}))


# ----------------------------------------------------------------------------- 9 + 10. layers and small truths

def test_checkpoint_does_not_import_training():
    code = "import sys, hrm_core.model.checkpoint; assert 'hrm_core.training.train' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
    from hrm_core.data import identity
    from hrm_core.training import train

    assert train.instrument_ids is identity.instrument_ids and train.data_hash is identity.data_hash


def test_annualisation_uses_no_deprecated_pandas_api():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert periods_per_year_of(_bars(100).index, "1d") == 365.0  # daily synthetic bars include weekends


def test_config_default_matches_the_feature_count():
    assert ModelConfig().n_features == len(FEATURE_NAMES) == 15


def test_results_model_table_has_no_cycles_for_the_flat_transformer():
    from hrm_core.evaluation.report import _model_row

    flat = _model_row({"arch": "flat", "N (h_cycles)": 2, "T (l_cycles)": 2, "max_segments": 1, "act": True})
    hrm_row = _model_row({"arch": "hrm", "N (h_cycles)": 2, "T (l_cycles)": 2, "max_segments": 3, "act": True})
    assert set(flat.values()) - {"flat"} == {"n/a"} and hrm_row["N (h_cycles)"] == 2


# ----------------------------------------------------------------------------- no traceback, ever

@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyError("k"), MemoryError(), ZeroDivisionError("x")])
def test_unexpected_errors_are_one_line_naming_a_bug(env, hrm, monkeypatch, exc):
    def explode(args):
        raise exc
    monkeypatch.setattr("hrm_cli.command.cmd_data_list", explode)
    code, _, err = hrm("data", "list")
    assert code == 2 and "this is a bug" in err and "--debug" in err and err.count("\n") == 1
    with pytest.raises(type(exc)):
        hrm_cli.main(["--debug", "data", "list"])


# ----------------------------------------------------------------------------- fault helpers

_LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode=DELETE")
conn.execute("CREATE TABLE IF NOT EXISTS held (x)")
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(60)
"""


class _held_lock:
    """Another process holds an exclusive lock on `db` for the duration of the block."""

    def __init__(self, db: Path):
        self.db = db

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", _LOCKER, str(self.db)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "locked"
        return self

    def __exit__(self, *exc):
        self.proc.kill()  # the process this test started, by its own handle
        self.proc.wait()


class _immutable:
    """A folder nobody (root included) can write into: `chattr +i`; skipped where unsupported."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __enter__(self):
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(self.folder)]).returncode:
            pytest.skip("chattr +i is not available here")
        return self

    def __exit__(self, *exc):
        subprocess.run(["chattr", "-i", str(self.folder)], check=True)
