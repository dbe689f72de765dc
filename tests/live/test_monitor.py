"""Model health: calibrated drift with a measured false-alarm rate and power, realised performance, calendar
staleness, the CLI contract on the default references."""
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import ks_2samp

from hrm_cli import main as hrm
from hrm_core.data.calendars import missing_bars
from hrm_core.data.market import load_bars
from hrm_core.live.drift import PSI_FLOOR, Null, categorical_psi, ks, psi, psi_edges, status_of
from hrm_core.live.ledger import Ledger
from hrm_core.live.monitor import _staleness_check, health, monitored_features
from hrm_core.model.checkpoint import load_checkpoint
from hrm_core.settings import HealthSettings, load_settings

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
torch.set_num_threads(1)


# ----------------------------------------------------------------------------- statistics

def test_psi_uses_reference_deciles_with_open_outer_bins():
    ref = np.arange(1000.0)
    np.testing.assert_allclose(psi_edges(ref), np.quantile(ref, np.arange(1, 10) / 10))
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-12)
    cur = np.full(100, 2000.0)  # everything beyond the last edge: the top bin, which is open-ended
    e, a = np.full(10, 0.1), np.array([PSI_FLOOR] * 9 + [1.0])
    assert psi(ref, cur) == pytest.approx(float(np.sum((a - e) * np.log(a / e))))


def test_ks_is_scipys_and_categorical_psi_compares_shares_per_category():
    rng = np.random.default_rng(0)
    ref, large = rng.normal(size=5000), rng.normal(1.0, 1, 500)
    res = ks_2samp(ref, large)
    assert ks(ref, large) == (res.statistic, res.pvalue)
    cats = pd.Series(["long"] * 50 + ["flat"] * 50)
    assert categorical_psi(cats, cats.sample(frac=1.0, random_state=0), ["short", "flat", "long"]) == pytest.approx(0)
    assert categorical_psi(cats, pd.Series(["short"] * 10), ["short", "flat", "long"]) > 0.25


def test_a_calibrated_p_value_counts_the_null_windows_at_least_as_extreme():
    null = Null(np.array([0.1, 0.2, 0.3, 0.4]))
    assert null.p_value(0.35) == pytest.approx(2 / 5) and null.p_value(0.05) == 1.0 and null.p_value(9) == 1 / 5
    big = Null(np.linspace(0, 1, 1000))
    levels = {"amber": 0.05, "red": 0.01}
    assert status_of(0.004, 0.5, big, levels) == "red"  # <= 0.01 x 0.5
    assert status_of(0.02, 0.5, big, levels) == "amber"  # <= 0.05 x 0.5
    assert status_of(0.03, 0.5, big, levels) == "green"
    assert status_of(1 / 1001, 0.001, big, levels) == "amber"  # beyond every null window: amber, never red
    assert status_of(0.0, 0.5, Null(np.linspace(0, 1, 50)), levels) == "green"  # too short a null: no alert


# ----------------------------------------------------------------------------- false alarms and power

@pytest.fixture(scope="module")
def gspc():
    return load_bars("^GSPC", "1d", settings=load_settings()).bars


@pytest.mark.slow
@pytest.mark.parametrize("window", [40, 250])
def test_drift_false_alarm_rate_on_held_out_years_and_power_on_injected_shifts(gspc, window):
    """Calibrated on the training years (1999-2012), as `hrm health` does; 200 windows drawn from the validation
    years 2013-2015, which calibration never read: <= 5 % non-green and <= 1 % red. 50 of those windows with a
    shift injected from their first bar: each shift is detected (amber or red) in >= 90 % of them."""
    from benchmarks.health import SHIFTS, measure

    m = measure(gspc, window)
    assert m["windows"] >= 200 and m["false_alarm_rate"] <= 0.05 and m["red_rate"] <= 0.01, m
    assert set(m["detection_rate"]) == set(SHIFTS) and min(m["detection_rate"].values()) >= 0.9, m


def test_gap_of_artefact_opens_leaves_the_test_instead_of_alarming(gspc):
    """Before 2006 the sample's opens are the previous close: those gaps are not data, so not monitored."""
    feats = monitored_features(gspc)
    early = feats.loc["2000-01-01":"2005-12-31", "gap"]
    assert early.isna().mean() > 0.9 and feats.loc["2016":"2018", "gap"].notna().all()


# ----------------------------------------------------------------------------- end to end

@pytest.fixture
def health_toml(tmp_path, monkeypatch):
    """Settings in tmp: the shipped models, offline; latency thresholds lifted so only the model is under test."""
    toml = tmp_path / "hrm.toml"
    toml.write_text(f'[data]\ncache_db = "{tmp_path / "market.db"}"\nmodels_dir = "{MODELS}"\n'
                    "[health]\nlatency_p95_amber_ms = 1e6\nlatency_p95_red_ms = 2e6\n")
    monkeypatch.setenv("HRM_OFFLINE", "1")
    monkeypatch.setenv("HRM_SETTINGS", str(toml))
    return toml


def _replay(db: Path, start: str, end: str, *extra: str) -> None:
    data = list(extra) or ["--symbol", "^GSPC"]
    assert hrm(["live", "--replay", start, end, *data, "--interval", "1d", "--db", str(db)]) == 0


def test_cli_contract_an_in_distribution_replay_is_not_red_against_the_default_references(
        health_toml, tmp_path, capsys):
    db = tmp_path / "x.db"
    _replay(db, "2014-01-01", "2014-06-30")
    capsys.readouterr()
    code = hrm(["health", "--db", str(db), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["status"] in ("green", "amber") and code == {"green": 0, "amber": 1}[report["status"]]
    for key in ("feature_drift", "performance", "staleness"):
        check = report["checks"][key]
        assert check["status"] in ("green", "amber", "red") and check["threshold_source"]
    # the default references are the checkpoint's own periods: features vs training, predictions vs test
    periods = load_checkpoint(MODELS / "hrm-default").periods
    assert report["references"] == {"features": periods["train"], "predictions": periods["test"]}
    assert periods["train"][0] in report["checks"]["feature_drift"]["threshold_source"]
    assert periods["test"][0] in report["checks"]["performance"]["threshold_source"]
    assert report["performance"]["matured"] >= 100 and report["verdict"].startswith(report["status"].upper())


def _tripled(path: Path, since: str) -> Path:
    from benchmarks.health import shifted as shift

    bars = load_bars("^GSPC", "1d", settings=load_settings()).bars
    shifted = shift(bars, int(np.searchsorted(bars.index, pd.Timestamp(since, tz="UTC"))), "volatility x3", 0.0)
    shifted.reset_index().to_csv(path, index=False)
    return path


def test_cli_contract_a_replay_with_tripled_volatility_is_red(health_toml, tmp_path, capsys):
    db = tmp_path / "shifted.db"
    _replay(db, "2014-01-01", "2014-06-30", "--csv", str(_tripled(tmp_path / "GSPC-x3.csv", "2014-01-01")))
    capsys.readouterr()
    code = hrm(["health", "--db", str(db), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert (code, report["status"]) == (2, "red")
    assert report["feature_drift"]["volatility jump"]["status"] == "red"
    assert "volatility jump" in report["checks"]["feature_drift"]["detail"]
    assert report["verdict"].startswith("RED: ") and "e-" in report["checks"]["feature_drift"]["detail"]
    with Ledger(db) as ledger:  # the verdict joins the alert history
        assert ledger.health_checks()["status"].tolist() == ["red"]


def test_a_live_book_on_fallback_data_is_red_for_fallbacks_and_staleness(health_toml, tmp_path, capsys):
    db = tmp_path / "live.db"
    assert hrm(["live", "--once", "--symbol", "^GSPC", "--db", str(db)]) == 0
    capsys.readouterr()
    report = health(db, load_settings(), now=pd.Timestamp("2019-02-01 12:00", tz="UTC"))
    checks = {c.key: c for c in report.checks}
    assert report.status == "red" and report.exit_code == 2
    assert checks["data_fallbacks"].status == "red" and "sample 1" in checks["data_fallbacks"].detail
    assert checks["staleness"].status == "red" and checks["staleness"].value == 21  # XNYS sessions in January 2019
    assert checks["feature_drift"].status == "green"  # one decision: shown, not alerted


def test_latency_percentiles_come_from_the_ledger(health_toml, tmp_path):
    db = tmp_path / "same.db"
    _replay(db, "2018-01-01", "2018-03-31")
    report = health(db, load_settings())
    with Ledger(db) as ledger:
        lat = ledger.frame(ledger.books()[0].book_id)["latency_ms"]
    assert report.latency["decision_p50"] == pytest.approx(float(np.percentile(lat, 50)))
    strict = load_settings()
    tight = replace(strict, health=replace(strict.health, latency_p95_amber_ms=0.0, latency_p95_red_ms=1e9))
    assert {c.key: c.status for c in health(db, tight).checks}["latency"] == "amber"


# ----------------------------------------------------------------------------- staleness by the calendar

def _live_book(newest: str, interval: str = "1d"):
    led = pd.DataFrame({"mode": ["live"]}, index=pd.DatetimeIndex([pd.Timestamp(newest, tz="UTC")], name="time"))
    return led, SimpleNamespace(symbol="^GSPC", interval=interval)


@pytest.mark.parametrize("newest, now, interval, status", [
    ("2024-12-06", "2024-12-07 12:00", "1d", "green"),  # Saturday: Friday's bar is the newest there is
    ("2024-12-06", "2024-12-09 14:00", "1d", "green"),  # Monday before the open
    ("2024-12-24", "2024-12-26 10:00", "1d", "green"),  # Christmas Day: no session
    ("2024-12-09 20:30", "2024-12-10 08:00", "1h", "green"),  # overnight after the last hourly bar
    ("2024-12-09", "2024-12-10 22:00", "1d", "green"),  # Tuesday has closed; its daily bar is usable at midnight
    ("2024-12-09", "2024-12-11 01:00", "1d", "amber"),  # Tuesday's bar is missing
    ("2024-12-06", "2024-12-11 01:00", "1d", "red"),  # Monday's and Tuesday's
    ("2024-12-09 14:30", "2024-12-09 17:00", "1h", "amber"),  # the 15:30 UTC bar closed at 16:30
])
def test_staleness_counts_the_bars_the_exchange_calendar_expects(newest, now, interval, status):
    led, book = _live_book(newest, interval)
    check = _staleness_check(led, book, HealthSettings(), pd.Timestamp(now, tz="UTC"))
    assert check.status == status, check.detail
    assert "XNYS" in check.threshold_source


def test_fx_and_crypto_calendars_trade_through_the_week_and_the_weekend():
    sat = pd.Timestamp("2024-12-07 12:00", tz="UTC")
    assert len(missing_bars("EURUSD=X", "1d", pd.Timestamp("2024-12-06", tz="UTC"), sat)) == 0
    sunday = pd.Timestamp("2024-12-08 01:00", tz="UTC")
    assert len(missing_bars("^GSPC", "1d", pd.Timestamp("2024-12-06", tz="UTC"), sunday)) == 0
    assert len(missing_bars("BTC-USD", "1d", pd.Timestamp("2024-12-06", tz="UTC"), sunday)) == 1  # Saturday's UTC day
    sunday_night = pd.Timestamp("2024-12-08 23:30", tz="UTC")  # FX reopens Sunday 17:00 New York
    assert len(missing_bars("EURUSD=X", "1h", pd.Timestamp("2024-12-06 21:00", tz="UTC"), sunday_night)) == 1


def test_the_in_distribution_demo_is_not_red_and_the_shifted_demo_is(health_toml, tmp_path):
    from hrm_core.live.demo import demo_replays
    from hrm_core.live.trader import replay

    s = load_settings()
    demos = demo_replays(s)
    verdicts = {}
    for name, args in demos.items():
        db = tmp_path / f"{name}.db"
        replay(s, symbol=args["symbol"], interval="1d", start=args["start"], end=args["end"], db=db,
               csv=args["csv"] or None)
        verdicts[name] = health(db, s).status
    assert verdicts["in distribution"] != "red" and verdicts["shifted"] == "red"


def test_sessions_writing_the_shifted_demo_copy_at_once_all_get_the_whole_file(health_toml):
    """Four pages opening the Live demo together once raced on one shared temporary name (issue 22)."""
    from concurrent.futures import ThreadPoolExecutor

    from hrm_core.live.demo import shifted_copy

    s = load_settings()
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: shifted_copy(s, "^GSPC", since="2014-01-01"), range(4)))
    assert len(set(paths)) == 1 and not list(paths[0].parent.glob("*.tmp"))
    written = pd.read_csv(paths[0])
    assert len(written) == len(load_bars("^GSPC", "1d", settings=s).bars) and written.notna().all().all()
