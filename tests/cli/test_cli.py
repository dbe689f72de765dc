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


def _file(tmp_path: Path, name: str, start: str = "2014-01-01", end: str = "2018-12-31") -> Path:
    """A user's daily file: the bundled ^GSPC sample between two dates, under a name of their choice."""
    lines = (ROOT / "data_cache" / "sample" / "GSPC_1d.csv").read_text().splitlines()
    keep = [ln for ln in lines[1:] if start <= ln[:10] <= end]
    path = tmp_path / name
    path.write_text("\n".join([lines[0], *keep]) + "\n", encoding="utf-8")
    return path


def test_explain_html_works_for_a_file_named_with_dollars_markup_and_unicode(hrm, tmp_path):
    """matplotlib reads "$...$" as mathtext: a file name must never reach it as such (it crashed)."""
    data = _file(tmp_path, "fund $_{$ <script>alert(1) é.csv")
    out = tmp_path / "report.html"
    done = hrm("explain", "--csv", str(data), "--interval", "1d", "--at", "2017-06-01", "--html", str(out))
    assert done.returncode == 0, done.stderr
    html = out.read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;" in html and "é" in html
    assert "was not trained on" in done.stderr  # the model never saw this instrument: said, as `hrm signals` does


def test_diagnose_on_a_file_before_the_test_period_uses_the_files_span_and_says_so(hrm, tmp_path):
    data = _file(tmp_path, "OLD.csv", "2004-01-01", "2013-12-31")
    done = hrm("diagnose", "--csv", str(data), "--interval", "1d", "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["period"]["start"] == "2004-01-02" and payload["period"]["end"] == "2013-12-31"
    assert "lies outside" in payload["period_note"] and "lies outside" in done.stderr
    assert "the model's test period" in hrm("diagnose", "--help").stdout


def test_help_texts_state_what_the_code_does(hrm):
    from hrm_core.training.train import TrainConfig

    assert f"(default {TrainConfig().horizon}," in hrm("train", "--help").stdout
    assert "2..512" in hrm("explain", "--help").stdout
    refused = hrm("explain", "--symbol", "^GSPC", "--at", "2017-06-01", "--n-steps", "1")
    assert refused.returncode == 2 and "integration steps" in refused.stderr
