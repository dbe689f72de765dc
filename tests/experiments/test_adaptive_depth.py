"""The adaptive-depth benchmark through its real command, small: the contract of its JSON and what the task
must show whatever the objective (the easy stratum learned, the noise stratum at chance)."""
import json

from benchmarks import adaptive_depth

STRATA = {"1", "2", "3", "4", "5", "6", "noise"}


def test_the_benchmark_prints_every_objectives_figures_per_stratum(capsys, tmp_path):
    out = tmp_path / "depth.json"
    rc = adaptive_depth.main(["--json", "--sizes", "tiny", "--objectives", "ponder", "--steps", "1500", "--jobs", "1",
                              "--out", str(out)])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == result
    r = result["objectives"]["tiny"]["ponder"]
    assert {"spearman_difficulty_depth", "accuracy_by_stratum", "mean_depth_by_stratum", "passes"} <= set(r)
    assert set(r["accuracy_by_stratum"]) == set(r["mean_depth_by_stratum"]) == STRATA
    for acc in r["accuracy_by_stratum"].values():
        assert set(acc) == {"adaptive", "depth_1", "max_depth"} and all(0 <= v <= 1 for v in acc.values())
    assert all(1 <= d <= 4 for d in r["mean_depth_by_stratum"].values())
    assert r["accuracy_by_stratum"]["1"]["depth_1"] > 0.9  # one move: read one token, learned in any run
    assert r["accuracy_by_stratum"]["noise"]["adaptive"] < 0.5  # a coin toss over three states stays one
    assert result["chosen"]["tiny"] in (None, "ponder") and result["matmul_gflops"] > 0
    assert r["passes"] == (r["spearman_difficulty_depth"] >= 0.5 and r["hardest_gain_vs_depth_1"] >= 0.05
                           and r["noise_shallowest"])
