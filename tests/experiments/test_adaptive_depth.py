"""The adaptive-depth benchmark through its real command, small and fast (tiny preset, 4 strata, about 50 s):
the contract of its JSON, and the known answer itself: the loss-improvement target on an unrolled trunk
spends more segments on harder windows, gains from them on the hardest, and stops at once on noise."""
import json

from benchmarks import adaptive_depth
from hrm_core.experiments.adaptive_depth import NOISE_TIE

STRATA = {"1", "2", "3", "4", "noise"}


def test_the_benchmark_shows_depth_adapting_where_it_should_on_the_known_answer_task(capsys, tmp_path):
    out = tmp_path / "depth.json"
    rc = adaptive_depth.main(["--json", "--sizes", "tiny", "--objectives", "loss_improvement", "--steps", "1000",
                              "--difficulties", "1", "2", "3", "4", "--jobs", "1", "--out", str(out)])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == result and result["matmul_gflops"] > 0
    r = result["objectives"]["tiny"]["loss_improvement"]
    assert set(r["accuracy_by_stratum"]) == set(r["mean_depth_by_stratum"]) == STRATA
    for acc in r["accuracy_by_stratum"].values():
        assert set(acc) == {"adaptive", "depth_1", "max_depth"} and all(0 <= v <= 1 for v in acc.values())
    acc, depth = r["accuracy_by_stratum"], r["mean_depth_by_stratum"]
    assert acc["1"]["depth_1"] > 0.9  # one move: read one token, learned in any run
    assert acc["noise"]["adaptive"] < 0.45  # a coin toss over three states stays one
    # The known answer: deeper where harder, paying there, and no thinking spent on noise.
    assert r["spearman_difficulty_depth"] >= 0.5
    assert acc["4"]["max_depth"] - acc["4"]["depth_1"] >= 0.1  # the trunk gains from extra segments
    assert r["hardest_gain_vs_depth_1"] >= 0.05 and depth["4"] > depth["1"] + 1
    assert depth["noise"] <= depth["1"] + NOISE_TIE
    assert r["passes"] and result["chosen"]["tiny"] == "loss_improvement"
    assert "--difficulties 1 2 3 4" in result["command"] and result["training"] == "unrolled over the segments"
