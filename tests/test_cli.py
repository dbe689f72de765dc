"""The `hrm` command as a user runs it: one process, JSON out, one-line errors."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def hrm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "hrm_cli.py", *args], cwd=ROOT, capture_output=True, text=True,
                          env={"HRM_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, timeout=300)


def test_bench_prints_backtest_figures_as_json():
    done = hrm("bench", "--only", "backtest")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)["backtest"]
    assert figures["backtest_100k_bars_ms_median"] > 0


def test_missing_model_is_one_clear_line_without_traceback():
    done = hrm("model", "info", "--model", "no-such-model")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
