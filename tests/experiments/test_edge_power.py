"""The edge-power ladder, fast: tiny models, one rung, one seed, through the command as users run it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hrm_core.experiments.edge_power import LEARNERS, REFERENCES, paired_difference, summarise
from hrm_core.evaluation.trials import SYNTHETIC_KIND, load_registry, trials_for

ROOT = Path(__file__).resolve().parents[2]


def _ladder(tmp_path: Path) -> tuple[dict, str]:
    cmd = [sys.executable, "-m", "benchmarks.edge_power", "--json", "--size", "tiny", "--shapes", "regime",
           "regime_momentum", "--rungs", "4", "--seeds", "1", "--jobs", "1", "--work", str(tmp_path / "work"),
           "--registry", str(tmp_path / "trials.json"), "--docs", str(tmp_path / "results.md")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HRM_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout), proc.stderr


def test_the_ladder_finds_a_strong_planted_edge_and_registers_synthetic_trials(tmp_path):
    out, log = _ladder(tmp_path)
    assert "2 to run" in log
    for shape in ("regime", "regime_momentum"):
        rung = out["shapes"][shape]["rungs"]["4"]
        for name in (*LEARNERS, *REFERENCES):
            assert set(rung[name]["recovered_share"]) >= {"mean", "sd"} and 0 <= rung[name]["power"] <= 1
        assert set(out["shapes"][shape]["min_detectable_sharpe"]) == {*LEARNERS, *REFERENCES}
        assert rung["oracle"]["power"] == 1.0  # the known answer is found at Sharpe 4 on 3 test years
    regime = out["shapes"]["regime"]
    assert regime["rungs"]["4"]["hrm"]["sharpe"]["mean"] > 0.5  # the HRM recovers part of a persistent regime
    assert regime["min_detectable_sharpe"]["oracle"] == 4.0
    probe = out["shapes"]["regime_momentum"]["probe_accuracy"]["4"]
    assert {"z_H", "z_L", "majority"} <= set(probe) and all(0 <= probe[z]["mean"] <= 1 for z in probe)
    # every trained run is a synthetic trial, and none counts for real data on the overlapping dates
    entries = load_registry(tmp_path / "trials.json")
    assert len(entries) == 2 * len(LEARNERS) and {e.kind for e in entries} == {SYNTHETIC_KIND}
    assert trials_for(tmp_path / "trials.json", interval="1d", start=entries[0].start, end=entries[0].end).n == 0
    assert "<!-- BEGIN edge-power -->" in (tmp_path / "results.md").read_text()
    # a rerun resumes from the kept jobs and registers the same entries again, not twice
    again, log = _ladder(tmp_path)
    assert "0 to run" in log and again["shapes"] == out["shapes"]
    assert len(load_registry(tmp_path / "trials.json")) == len(entries)


def test_power_and_the_minimum_detectable_edge_follow_the_intervals():
    def rec(rung, seed, lo):
        learners = {n: {"sharpe": 1.0, "ci": [lo, 2.0]} for n in (*LEARNERS, *REFERENCES)}
        return {"job": {"shape": "regime", "sharpe": rung, "seed": seed}, "learners": learners, "probe": None}

    records = [rec(1.0, s, -0.1 if s else 0.1) for s in range(5)] + [rec(2.0, s, 0.1 if s else -0.1)
                                                                        for s in range(5)]
    summary = summarise(records)["regime"]
    assert summary["rungs"]["1"]["hrm"]["power"] == 0.2 and summary["rungs"]["2"]["hrm"]["power"] == 0.8
    assert summary["min_detectable_sharpe"]["hrm"] == 2.0
    assert summary["rungs"]["2"]["hrm"]["recovered_share"]["mean"] == pytest.approx(0.5)
    diff = paired_difference([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    assert diff["mean"] == pytest.approx(1.0) and diff["ci"] == [pytest.approx(1.0), pytest.approx(1.0)]


def test_the_real_data_result_beside_the_ladder_comes_from_the_walk_forward_json(tmp_path):
    from hrm_core.experiments.edge_power import real_data_sentence, walk_forward_result

    real = walk_forward_result(ROOT / "docs" / "walkforward.json")
    assert real is not None and {"^GSPC", "^IXIC"} <= set(real["instruments"])
    sentence = real_data_sentence(real)
    assert sentence.startswith("On real data (walk-forward out-of-sample years")
    assert ("no edge detected" in sentence) == all(r["ci"][0] <= 0 for r in real["instruments"].values())
    assert walk_forward_result(tmp_path / "missing.json") is None
