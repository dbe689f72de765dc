"""Walk-forward evaluation: each year predicted by a model that never saw it, cached folds, JSON, docs, CLI.

One tiny walk-forward (tiny presets, 2016-2017, one seed, one epoch, stride 8) on the bundled sample,
offline, is shared by the module; tests that change the work folder work on a copy of it.
"""
import json
import re
import math
import shutil
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

import hrm_cli
import hrm_core.evaluation.walkforward as wf
from hrm_core.model.checkpoint import load_checkpoint
from hrm_core.data.market import load_bars
from hrm_core.data.identity import data_hash
from hrm_core.settings import PROJECT_ROOT, load_settings
from hrm_core.trading.signals import generate_signals
from hrm_core.training.windows import in_period

YEARS = (2016, 2017)
TINY = wf.sized(wf.select_variants(["hrm-default", "flat"]), "tiny")


def tiny_config(work, **kw) -> wf.WalkForwardConfig:
    return wf.WalkForwardConfig(**{"years": YEARS, "variants": TINY, "seeds": (0,), "epochs": 1, "stride": 8,
                                   "jobs": 1, "work_dir": str(work), "n_boot": 200, **kw})


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Offline settings with their own empty cache, the sample's bars, and one tiny walk-forward."""
    root = tmp_path_factory.mktemp("walkforward")
    toml = root / "hrm.toml"
    toml.write_text(f'[data]\ncache_db = "{root / "market.db"}"\n')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HRM_OFFLINE", "1")
        mp.setenv("HRM_SETTINGS", str(toml))
        settings = load_settings(toml)
        bars = {s: load_bars(s, "1d", settings=settings).bars for s in ("^GSPC", "^IXIC")}
        cfg = tiny_config(root / "work")
        result = wf.run_walk_forward(cfg, settings)
        yield {"root": root, "toml": toml, "settings": settings, "bars": bars, "cfg": cfg, "result": result}


def fold(result, variant: str, year: int) -> dict:
    return next(f for f in result.folds if f["variant"] == variant and f["year"] == year)


def stored(cfg, record: dict) -> dict:
    name = f"{record['variant']}-s{record['seed']}-{record['year']}-{record['key'][:12]}.json"
    return json.loads((cfg.work_path() / "folds" / name).read_text())


# ----------------------------------------------------------------------------- no look-ahead

def test_each_year_is_predicted_by_a_checkpoint_whose_periods_end_before_it(env):
    for f in env["result"].folds:
        y = f["year"]
        assert f["periods"]["train"] == ["1999-01-01", f"{y - 3}-12-31"]
        assert f["periods"]["validation"] == [f"{y - 2}-01-01", f"{y - 1}-12-31"]
        assert f["periods"]["test"] == [f"{y}-01-01", f"{y}-12-31"]
        loaded = load_checkpoint(f["checkpoint"])
        cut = {(s, "1d"): b[in_period(b.index, "1d", None, f"{y - 1}-12-31")] for s, b in env["bars"].items()}
        assert loaded.data_hash == data_hash(cut)  # training read exactly the bars up to the end of validation


def test_bars_after_validation_do_not_change_the_fold_model(env, tmp_path):
    """Everything after 2016-12-31 replaced by garbage: the 2017 fold trains the very same weights."""
    garbage = {}
    for s, b in env["bars"].items():
        later = b.index > "2016-12-31"
        g = b.copy()
        g.loc[later, ["open", "high", "low", "close"]] *= np.random.default_rng(1).uniform(0.5, 2.0, (later.sum(), 1))
        g.loc[later, "high"] = g.loc[later, ["open", "high", "low", "close"]].max(axis=1)
        g.loc[later, "low"] = g.loc[later, ["open", "high", "low", "close"]].min(axis=1)
        garbage[s] = g
    cfg = tiny_config(tmp_path / "work", years=(2017, 2017), variants=TINY[:1])
    (job,) = wf.plan_folds(cfg, garbage, env["settings"], first_train_year=1999)
    original = fold(env["result"], "hrm-default", 2017)
    assert job.key == original["key"]  # the key hashes the training bars only, so the same fold
    record = wf.run_fold(job)
    assert record["status"] == "trained"
    new, old = load_checkpoint(record["checkpoint"]), load_checkpoint(original["checkpoint"])
    assert new.data_hash == old.data_hash
    for k, v in old.model.state_dict().items():
        assert torch.equal(v, new.model.state_dict()[k]), k


def test_year_positions_equal_the_checkpoints_signals_on_the_full_history(env):
    """Signals are computed on bars up to the end of Y only; features are causal, so nothing changes (but
    float32 rounding: other batch boundaries move a position by ~3e-8)."""
    f = fold(env["result"], "hrm-default", 2016)
    loaded = load_checkpoint(f["checkpoint"])
    for s, b in env["bars"].items():
        full = generate_signals(loaded, b, symbol=s, interval="1d")
        inside = in_period(b.index, "1d", "2016-01-01", "2016-12-31")
        np.testing.assert_allclose(stored(env["cfg"], f)["series"][s]["position"], full.position[inside], atol=1e-6,
                                   rtol=0)


def test_the_concatenated_book_is_each_years_fold_positions(env):
    res = env["result"]
    for inst in res.instruments:
        run = inst.evaluation.run("hrm-default seed 0")
        assert run.target.index[0].year == 2016 and run.target.index[-1].year == 2017
        for year in YEARS:
            entry = stored(env["cfg"], fold(res, "hrm-default", year))["series"][inst.symbol]
            in_year = run.target[run.target.index.year == year]
            assert np.array_equal(in_year.to_numpy(), entry["position"])


# ----------------------------------------------------------------------------- statistics

def test_each_window_is_scored_against_its_own_folds_null(env):
    res = env["result"]
    inst = res.instruments[0]
    skill = inst.skill["hrm-default seed 0"]
    records = [stored(env["cfg"], fold(res, "hrm-default", y))["series"][inst.symbol] for y in YEARS]
    assert records[0]["train_frequencies"] != records[1]["train_frequencies"]  # different training years
    ll_null, n = [], 0
    for r in records:
        y = np.asarray(r["y"], dtype=float)
        y = y[np.isfinite(y)].astype(int)
        ll_null.append(-np.log(np.asarray(r["train_frequencies"])[y]))
        n += len(y)
    assert skill["n"] == n
    assert skill["logloss_constant"] == pytest.approx(np.concatenate(ll_null).mean())


def test_dsr_deflates_by_the_trial_count_of_the_span_and_baselines_are_references(env):
    res = env["result"]
    assert res.n_trials >= len(TINY) * 1 * 2
    for inst in res.instruments:
        for r in inst.evaluation.runs:
            if r.kind == "rule baseline":
                assert math.isnan(r.metrics["DSR"])
            else:
                assert r.metrics["Trials (N)"] == res.n_trials and 0 <= r.metrics["DSR"] <= 1
        assert {r.name for r in inst.evaluation.runs if r.kind == "rule baseline"} == set(wf.RULE_BASELINES)
        assert sorted(inst.evaluation.dsr_variance["trials"]) == ["flat seed 0", "hrm-default seed 0"]


def test_paired_sharpe_difference_is_the_difference_of_the_tables_means(env):
    for inst in env["result"].instruments:
        (p,) = inst.paired
        means = {v: inst.variants[v]["mean"]["Sharpe"] for v in ("flat", "hrm-default")}
        assert p["variant"] == "flat" and p["sharpe_diff"] == pytest.approx(means["flat"] - means["hrm-default"])
        assert p["sharpe_diff_ci"][0] <= p["sharpe_diff"] <= p["sharpe_diff_ci"][1]
        assert p["windows"] > 400 and p["days"] == inst.evaluation.n_bars


def test_paired_sharpe_of_a_series_with_itself_is_exactly_zero():
    r = np.random.default_rng(0).normal(0.0005, 0.01, 300)
    out = wf.paired_sharpe_difference([r], [r.copy()], periods_per_year=252, n_boot=300)
    assert out["diff"] == 0 and out["ci"] == [0.0, 0.0]


# ----------------------------------------------------------------------------- cache, resume, parallel

def test_a_rerun_reads_every_fold_from_the_cache_and_trains_nothing(env, tmp_path, monkeypatch):
    work = tmp_path / "work"
    shutil.copytree(env["cfg"].work_path(), work)
    first = sorted((work / "folds").glob("*.json"))[0]
    first.write_text(first.read_text().replace(wf.TRAIN_CODE, "older-code"))  # trained before a train.py edit
    monkeypatch.setattr(wf, "train_and_save", lambda *a, **k: pytest.fail("a cached fold was trained again"))
    said = []
    again = wf.run_walk_forward(tiny_config(work), env["settings"], progress=said.append)
    assert {f["status"] for f in again.folds} == {"cached"}
    assert again.instruments[0].variants == env["result"].instruments[0].variants
    assert any(m.startswith("warning: 1 cached fold(s) were trained by other training code") for m in said)


def test_a_lost_fold_result_is_rebuilt_from_its_checkpoint_without_training(env, tmp_path, monkeypatch):
    work = tmp_path / "work"
    shutil.copytree(env["cfg"].work_path(), work)
    lost = fold(env["result"], "flat", 2017)
    (work / "folds" / f"flat-s0-2017-{lost['key'][:12]}.json").unlink()
    monkeypatch.setattr(wf, "train_and_save", lambda *a, **k: pytest.fail("a saved checkpoint was trained again"))
    again = wf.run_walk_forward(tiny_config(work), env["settings"])
    assert fold(again, "flat", 2017)["status"] == "checkpoint"
    assert sum(f["status"] == "cached" for f in again.folds) == len(again.folds) - 1
    assert again.instruments[1].variants == env["result"].instruments[1].variants


def test_worker_processes_give_the_same_folds_as_one_process(env, tmp_path):
    cfg = tiny_config(tmp_path / "work", years=(2017, 2017), jobs=2)
    res = wf.run_walk_forward(cfg, env["settings"])
    assert [f["status"] for f in res.folds] == ["trained", "trained"]
    for f in res.folds:
        mine, theirs = stored(cfg, f)["series"], stored(env["cfg"], fold(env["result"], f["variant"], 2017))["series"]
        assert mine == theirs
    assert (cfg.work_path() / ".gitignore").read_text().strip().endswith("*")


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("kw, words", [({"years": (2018, 2008)}, "first <= last"),
                                       ({"seeds": ()}, "at least one"),
                                       ({"jobs": 0}, "jobs must be >= 1")])
def test_bad_configs_are_refused_in_one_line(kw, words, tmp_path):
    with pytest.raises(wf.WalkForwardError, match=words):
        tiny_config(tmp_path, **kw)


def test_years_outside_the_data_are_refused_before_any_training(env, tmp_path):
    with pytest.raises(wf.WalkForwardError, match="must reach"):
        wf.run_walk_forward(tiny_config(tmp_path, years=(2016, 2030)), env["settings"])
    with pytest.raises(wf.WalkForwardError, match="no training year"):
        wf.run_walk_forward(tiny_config(tmp_path, years=(2001, 2002)), env["settings"])
    with pytest.raises(wf.WalkForwardError, match="unknown variant"):
        wf.select_variants(["hrm-default", "nope"])


# ----------------------------------------------------------------------------- JSON, markdown, CLI

def test_json_has_the_documented_keys_and_is_strict_json(env):
    js = wf.to_json(env["result"])
    assert tuple(js) == wf.JSON_KEYS
    json.dumps(js, allow_nan=False)
    inst = js["instruments"][0]
    assert {"symbol", "interval", "first", "last", "bars", "dsr_variance", "variants", "paired",
            "baselines", "snooping"} <= set(inst)
    spa = inst["snooping"]["spa"]  # every (variant, seed) run against each rule baseline, and the MCS
    assert set(spa) == {"buy & hold", "vol-target B&H"} and all(0 <= r["pvalue"] <= 1 for r in spa.values())
    assert inst["snooping"]["runs"] == 2 and set(inst["snooping"]["mcs"]["included"]) <= {
        "hrm-default seed 0", "flat seed 0", "buy & hold", "vol-target B&H"}
    v = inst["variants"][0]
    assert v["variant"] == "hrm-default" and v["preset"] == "tiny" and v["n_seeds"] == 1
    assert set(v["mean"]) == set(wf.STAT_KEYS) and v["runs"][0]["skill"]["verdict"]
    assert {"variant", "versus", "sharpe_diff", "sharpe_diff_ci", "logloss_diff",
            "logloss_diff_ci"} <= set(inst["paired"][0])
    depth = inst["depth"]  # the reference model's depth over the years: histogram, volatility, paired log-loss
    assert sum(depth["segments_histogram"].values()) == depth["decisions"] > 400
    assert set(depth["inference_modes"]) <= {"adaptive", "fixed", "max"} and 0 <= depth["action_agreement"] <= 1
    assert "value" in depth["depth_volatility_corr"] and set(depth["logloss"]) == {"as_run", "depth_1", "max_depth"}
    for d in depth["differences"].values():
        assert d["ci"][0] <= d["ci"][1]
    assert {"wall_seconds", "train_seconds_total", "folds", "trained", "cached"} <= set(js["compute"])
    assert len(js["folds"]) == 4 and all(f["train_seconds"] > 0 and "series" not in f for f in js["folds"])
    assert js["trials"]["N"] == env["result"].n_trials


def test_the_walk_forward_section_goes_into_a_copy_of_results_md(env, tmp_path):
    md = tmp_path / "results.md"
    shutil.copy(PROJECT_ROOT / "docs" / "results.md", md)
    before = md.read_text()
    for _ in range(2):  # a second write replaces the section, never appends another
        path, js = wf.write_docs(env["result"], md)
    text = path.read_text()

    def outside(t: str) -> str:  # everything but the walk-forward section (the committed file may hold one)
        return re.sub(r"<!-- BEGIN walk-forward -->.*?<!-- END walk-forward -->", "", t, flags=re.S).strip()

    assert outside(text) == outside(before) and text.count("<!-- BEGIN walk-forward -->") == 1
    section = text.split("<!-- BEGIN walk-forward -->")[1]
    for row in ("| hrm-default | 1 |", "| flat | 1 |", "| buy & hold | — |", "| vol-target B&H | — |",
                "### Paired with hrm-default", "Command: `hrm evaluate --walk-forward --years 2016 2017",
                "Hansen's SPA over all 2 runs here", "Model confidence set at 10%",
                "### Reasoning depth of hrm-default over the years"):
        assert row in section
    assert js == tmp_path / "walkforward.json" and json.loads(js.read_text())["command"] == env["result"].command


def test_cli_walk_forward_prints_json_and_writes_docs(env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HRM_OFFLINE", "1")
    monkeypatch.setenv("HRM_SETTINGS", str(env["toml"]))
    md = tmp_path / "docs" / "results.md"
    rc = hrm_cli.main(["evaluate", "--walk-forward", "--years", "2016", "2017", "--seeds", "1", "--variants",
                       "hrm-default", "flat", "--model-size", "tiny", "--epochs", "1", "--stride", "8", "--jobs", "1",
                       "--n-boot", "200", "--work-dir", str(env["cfg"].work_path()), "--docs", str(md), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and tuple(k for k in out if k != "docs") == wf.JSON_KEYS
    assert out["compute"]["cached"] == 4  # the same folds as the API run: same keys, read from its work folder
    assert out["instruments"][0]["variants"][0]["mean"]["Sharpe"] == pytest.approx(
        env["result"].instruments[0].variants["hrm-default"]["mean"]["Sharpe"])
    assert "<!-- BEGIN walk-forward -->" in md.read_text() and (md.parent / "walkforward.json").exists()


@pytest.mark.parametrize("argv, words", [
    (["--walk-forward", "--years", "2018", "2008"], "first <= last"),
    (["--walk-forward", "--variants", "nope"], "unknown variant"),
    (["--walk-forward", "--model-size", "huge"], "unknown model size"),
    (["--years", "2016", "2017"], "only apply with --walk-forward"),
])
def test_cli_errors_are_one_line(argv, words, env, monkeypatch, capsys):
    monkeypatch.setenv("HRM_SETTINGS", str(env["toml"]))
    assert hrm_cli.main(["evaluate", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hrm: error:") and words in err[0]


# ----------------------------------------------------------------------------- a real Dask cluster

def comparable(path) -> dict:
    """A stored fold without what differs by machine and run: its wall-clock seconds and checkpoint path."""
    record = json.loads(path.read_text())
    return {k: v for k, v in record.items() if k not in ("train_seconds", "checkpoint")}


def test_a_dask_cluster_gives_the_local_runs_fold_records(env, tmp_path, monkeypatch, capsys):
    from hrm_core.compute.local_cluster import local_cluster

    monkeypatch.setenv("HRM_OFFLINE", "1")
    monkeypatch.setenv("HRM_SETTINGS", str(env["toml"]))
    work = tmp_path / "work"
    with local_cluster(2, tmp_path / "cluster") as cluster:
        rc = hrm_cli.main(["evaluate", "--walk-forward", "--years", "2016", "2017", "--seeds", "1", "--variants",
                           "hrm-default", "flat", "--model-size", "tiny", "--epochs", "1", "--stride", "8",
                           "--n-boot", "200", "--work-dir", str(work), "--cluster", cluster.address, "--json"])
    captured = capsys.readouterr()
    assert rc == 0 and f"on Dask cluster at {cluster.address}" in captured.err
    assert json.loads(captured.out)["compute"]["trained"] == 4
    local = sorted((env["cfg"].work_path() / "folds").glob("*.json"))
    assert [p.name for p in local] == sorted(p.name for p in (work / "folds").glob("*.json"))
    for path in local:
        assert comparable(work / "folds" / path.name) == comparable(path)
    assert all((work / "checkpoints" / p.stem / "model.pt").is_file() for p in local)  # sent back, written here


def test_a_killed_worker_costs_only_its_folds_and_each_fold_is_written_once(env, tmp_path, monkeypatch):
    from hrm_core.compute.local_cluster import local_cluster

    writes = []
    real_store = wf.store_fold
    monkeypatch.setattr(wf, "store_fold", lambda job, out: writes.append(job.name) or real_store(job, out))
    cfg = tiny_config(tmp_path / "work", seeds=(0, 1))
    with local_cluster(2, tmp_path / "cluster") as cluster:
        def kill_after_first(done: int, total: int) -> None:
            if done == 1:
                cluster.kill_worker(0)  # mid-sweep: 7 folds to go, one of them running on it

        res = wf.run_walk_forward(replace(cfg, cluster=cluster.address), env["settings"], on_fold=kill_after_first)
        assert cluster.workers[0].returncode == -9
    assert len(writes) == len(set(writes)) == len(res.folds) == 8
    assert {f["status"] for f in res.folds} == {"trained"}
    for f in res.folds:
        if f["seed"] == 0:  # the module's local run trained these: same seed, same records
            name = f"{f['variant']}-s0-{f['year']}-{f['key'][:12]}.json"
            assert comparable(cfg.work_path() / "folds" / name) == comparable(env["cfg"].work_path() / "folds" / name)


def test_an_unreachable_scheduler_is_one_line_naming_it_before_any_work(env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HRM_SETTINGS", str(env["toml"]))
    monkeypatch.setattr(wf, "plan_folds", lambda *a, **k: pytest.fail("work started without a scheduler"))
    t0 = time.perf_counter()
    assert hrm_cli.main(["evaluate", "--walk-forward", "--cluster", "tcp://127.0.0.1:1", "--work-dir",
                         str(tmp_path)]) == 2
    assert time.perf_counter() - t0 < 10
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in err[0]
    assert not (tmp_path / "folds").exists()
