"""Model health: PSI/KS by the documented rule, drift alerts that turn red on shifted inputs, exit codes."""
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import ks_2samp

from hrm_cli import main as hrm
from hrm_core.data.market import load_bars
from hrm_core.live.ledger import Ledger
from hrm_core.live.monitor import PSI_FLOOR, categorical_psi, drift_status, health, ks, psi, psi_edges
from hrm_core.settings import HealthSettings, load_settings

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
START, END = "2018-01-01", "2018-03-31"

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- statistics

def test_psi_uses_reference_deciles_with_open_outer_bins():
    ref = np.arange(1000.0)
    np.testing.assert_allclose(psi_edges(ref), np.quantile(ref, np.arange(1, 10) / 10))
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-12)
    cur = np.full(100, 2000.0)  # everything beyond the last edge: the top bin, which is open-ended
    e, a = np.full(10, 0.1), np.array([PSI_FLOOR] * 9 + [1.0])
    assert psi(ref, cur) == pytest.approx(float(np.sum((a - e) * np.log(a / e))))


def test_psi_grows_with_the_shift_and_ks_is_scipys():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=5000)
    small, large = rng.normal(0.1, 1, 500), rng.normal(1.0, 1, 500)
    assert psi(ref, small) < 0.10 < 0.25 < psi(ref, large)
    d, p = ks(ref, large)
    res = ks_2samp(ref, large)
    assert (d, p) == (res.statistic, res.pvalue)


def test_categorical_psi_compares_shares_per_category():
    ref = pd.Series(["long"] * 50 + ["flat"] * 50)
    assert categorical_psi(ref, ref.sample(frac=1.0, random_state=0), ["short", "flat", "long"]) == pytest.approx(0.0)
    assert categorical_psi(ref, pd.Series(["short"] * 10), ["short", "flat", "long"]) > 0.25


def test_drift_needs_both_psi_and_ks_and_enough_bars():
    h = HealthSettings()
    assert drift_status(0.5, 1e-6, 100, h) == "red"
    assert drift_status(0.15, 1e-6, 100, h) == "amber"
    assert drift_status(0.5, 0.3, 100, h) == "green"  # PSI noise the KS test does not confirm
    assert drift_status(0.5, 1e-6, h.min_drift_bars - 1, h) == "green"  # too few decisions to alert
    assert drift_status(0.5, None, 100, h) == "red"  # categorical: PSI alone


# ----------------------------------------------------------------------------- drift end to end

@pytest.fixture
def health_toml(tmp_path, monkeypatch):
    """Settings in tmp: the shipped models, offline; latency thresholds lifted so only drift is under test."""
    toml = tmp_path / "hrm.toml"
    toml.write_text(f'[data]\ncache_db = "{tmp_path / "market.db"}"\nmodels_dir = "{MODELS}"\n'
                    "[health]\nlatency_p95_amber_ms = 1e6\nlatency_p95_red_ms = 2e6\n")
    monkeypatch.setenv("HRM_OFFLINE", "1")
    monkeypatch.setenv("HRM_SETTINGS", str(toml))
    return toml


def _shifted_csv(path: Path, factor: float = 3.0) -> Path:
    """The sample's ^GSPC with every log return and intrabar range from 2017-10 on scaled by `factor`."""
    bars = load_bars("^GSPC", "1d", settings=load_settings()).bars.copy()
    on = bars.index >= "2017-10-01"
    r = np.log(bars["close"]).diff().fillna(0.0)
    close = np.exp(np.log(bars["close"].iloc[0]) + np.where(on, factor * r, r).cumsum())
    for col in ("open", "high", "low"):
        rel = np.log(bars[col] / bars["close"])
        bars[col] = close * np.exp(np.where(on, factor * rel, rel))
    bars["close"] = close
    bars.reset_index().to_csv(path, index=False)
    return path


def _replay(db: Path, *extra: str) -> None:
    assert hrm(["live", "--replay", START, END, "--symbol", "^GSPC", "--interval", "1d", "--db", str(db),
                *extra]) == 0


def test_unchanged_inputs_stay_green_and_exit_0(health_toml, tmp_path, capsys):
    db = tmp_path / "same.db"
    _replay(db)
    capsys.readouterr()
    code = hrm(["health", "--db", str(db), "--reference", START, END, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert (code, report["status"]) == (0, "green"), report["reasons"]
    assert max(f["psi"] for f in report["feature_drift"].values()) < HealthSettings().psi_amber


def test_shifted_feature_distributions_turn_red_and_exit_2(health_toml, tmp_path, capsys):
    db = tmp_path / "shifted.db"
    _replay(db, "--csv", str(_shifted_csv(tmp_path / "shifted.csv")))
    capsys.readouterr()
    code = hrm(["health", "--db", str(db), "--reference", START, END, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert (code, report["status"]) == (2, "red")
    drifted = {k for k, v in report["feature_drift"].items() if v["status"] == "red"}
    assert {"vol_20", "range_hl"} <= drifted
    assert any(r.startswith("feature drift:") and "vol_20" in r for r in report["reasons"])
    with Ledger(db) as ledger:  # the verdict joins the alert history
        assert ledger.health_checks()["status"].tolist() == ["red"]


def test_a_live_book_on_fallback_data_is_red_for_fallbacks_and_staleness(health_toml, tmp_path, capsys):
    db = tmp_path / "live.db"
    assert hrm(["live", "--once", "--symbol", "^GSPC", "--db", str(db)]) == 0
    capsys.readouterr()
    report = health(db, load_settings(), now=pd.Timestamp("2019-02-01", tz="UTC"))
    checks = {c.name: c for c in report.checks}
    assert report.status == "red" and report.exit_code == 2
    assert checks["data fallbacks"].status == "red" and "sample 1" in checks["data fallbacks"].detail
    assert checks["data staleness"].status == "red"
    assert checks["feature drift"].status == "green"  # one decision: shown, not alerted


def test_latency_percentiles_come_from_the_ledger(health_toml, tmp_path):
    db = tmp_path / "same.db"
    _replay(db)
    report = health(db, load_settings(), reference=(START, END))
    with Ledger(db) as ledger:
        lat = ledger.frame(ledger.books()[0].book_id)["latency_ms"]
    assert report.latency["decision_p50"] == pytest.approx(float(np.percentile(lat, 50)))
    assert report.latency["decision_p99"] == pytest.approx(float(np.percentile(lat, 99)))
    strict = load_settings()
    tight = replace(strict, health=replace(strict.health, latency_p95_amber_ms=0.0, latency_p95_red_ms=1e9))
    assert health(db, tight, reference=(START, END)).status == "amber"
