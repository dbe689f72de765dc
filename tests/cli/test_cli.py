"""The `hrm` command as a user runs it: one process, JSON out, one-line errors."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hrm(tmp_path):
    """Run `hrm` in a fresh process, offline, with its cache in tmp_path (never in the repository)."""
    toml = tmp_path / "hrm.toml"
    toml.write_text(f'[data]\ncache_db = "{tmp_path / "market.db"}"\n')
    env = {"HRM_OFFLINE": "1", "HRM_SETTINGS": str(toml), "PATH": "/usr/bin:/bin"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "hrm_cli", *args], cwd=ROOT, capture_output=True, text=True,
                              env=env, timeout=300)
    return run


def test_bench_prints_backtest_figures_as_json(hrm):
    done = hrm("bench", "--only", "backtest")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)["backtest"]
    assert figures["backtest_100k_bars_ms_median"] > 0


def test_missing_model_is_one_clear_line_without_traceback(hrm):
    done = hrm("model", "info", "--model", "no-such-model")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_fetch_reports_each_symbol_and_fails_only_for_the_bad_one(hrm, tmp_path):
    done = hrm("data", "fetch", "^GSPC", "NOPE123", "--json")
    assert done.returncode == 2
    rows = {r["symbol"]: r for r in json.loads(done.stdout)}
    assert rows["^GSPC"]["source"] == "sample" and rows["^GSPC"]["rows"] == 5031
    assert "unknown symbol 'NOPE123'" in rows["NOPE123"]["error"]
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert (tmp_path / "market.db").exists()  # the cache lives where the settings say
