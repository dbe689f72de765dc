"""A trader's own files: `hrm train --csv` and `hrm evaluate --walk-forward --csv`, as a user runs them."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hrm_core.data.market import load_bars
from hrm_core.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """Two daily files (2004-2013, from the bundled sample) and `hrm` run offline with models/ in a temp folder."""
    tmp = tmp_path_factory.mktemp("own")
    toml = tmp / "hrm.toml"
    toml.write_text(f'[data]\ncache_db = "{tmp / "market.db"}"\nmodels_dir = "{tmp / "models"}"\n')
    settings = load_settings(toml)
    for sym, name in (("^GSPC", "A.csv"), ("^IXIC", "B.csv")):
        load_bars(sym, "1d", "2004-01-01", "2013-12-31", settings=settings).bars.to_csv(tmp / name)
    env = {"HRM_OFFLINE": "1", "HRM_SETTINGS": str(toml), "PATH": "/usr/bin:/bin"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "hrm_cli", *args], cwd=tmp, capture_output=True, text=True,
                              env=env, timeout=600)
    return {"dir": tmp, "run": run}


def test_train_on_two_files_then_signals_on_one_without_the_untrained_warning(user):
    done = user["run"]("train", "--csv", "A.csv", "B.csv", "--interval", "1d", "--out", "mine", "--preset", "tiny",
                       "--epochs", "1", "--json")
    assert done.returncode == 0, done.stderr
    card = json.loads((user["dir"] / "models" / "mine" / "model_card.json").read_text())
    periods = json.loads(done.stdout)["periods"]
    assert periods["train"][0] == "2004-01-02" and periods["test"][1] == "2013-12-31"  # the files' common span
    assert "2010-12-01" < periods["validation"][0] < "2011-01-31"  # 70 % of ten years in
    assert {"A.CSV", "B.CSV"} <= set(json.dumps(card).upper().split('"'))
    sig = user["run"]("signals", "--csv", "A.csv", "--model", "mine", "--json")
    assert sig.returncode == 0, sig.stderr
    assert "warning" not in sig.stderr and json.loads(sig.stdout)["rows"] > 0
    other = user["run"]("signals", "--symbol", "^GSPC", "--model", "mine", "--json")
    assert "was not trained on ^GSPC" in other.stderr  # the warning still speaks where it should


def test_walk_forward_on_a_users_daily_file(user):
    done = user["run"]("evaluate", "--walk-forward", "--csv", "A.csv", "--years", "2012", "2013", "--seeds", "1",
                       "--variants", "hrm-default", "flat", "--model-size", "tiny", "--epochs", "1", "--stride", "8",
                       "--jobs", "1", "--n-boot", "200", "--work-dir", str(user["dir"] / "wf"), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["config"]["first_train_year"] == 2004 and out["config"]["years"] == [2012, 2013]
    inst = out["instruments"][0]
    assert inst["symbol"] == "A.CSV" and inst["source"].startswith("file")
    assert [v["variant"] for v in inst["variants"]] == ["hrm-default", "flat"] and out["compute"]["trained"] == 4
    assert out["command"].endswith("--csv A.csv --docs")


def test_walk_forward_years_default_to_the_files_span(user):
    from hrm_cli import command as cli
    from hrm_cli.walkforward import _config, _file_bars

    args = cli.build_parser().parse_args(["evaluate", "--walk-forward", "--csv", str(user["dir"] / "A.csv")])
    args.settings = load_settings(user["dir"] / "hrm.toml")
    bars, _ = _file_bars(args)
    cfg = _config(args, bars)
    assert cfg.symbols == ("A.CSV",) and cfg.first_train_year == 2004 and cfg.years == (2007, 2013)
