"""Training runs as executor jobs (the shipped variants' seeds, the label experiments): the bars and settings
travel with the job, the checkpoint comes back as bytes, and every backend trains the same model."""

import pytest

from hrm_core.compute.executors import open_executor, run_all
from hrm_core.model.checkpoint import load_checkpoint
from hrm_core.settings import Settings
from hrm_core.data.synthetic import planted_series
from hrm_core.training.sweep import TrainJob, run_train_job, write_checkpoint
from hrm_core.training.train import TrainConfig

SYN = dict(symbols=("SYN",), train_start="2000-01-01", train_end="2001-12-31", val_start="2002-01-01",
           val_end="2002-06-30", test_start="2002-07-01", test_end="2002-12-31")


def jobs(**kw) -> list[TrainJob]:
    bars = {("SYN", "1d"): planted_series("regime", drift=0.002, n_bars=800, seed=0).bars}
    return [TrainJob(TrainConfig(preset="tiny", epochs=1, batch_size=64, seed=seed, **SYN), f"syn-{seed}", bars,
                     Settings(), **kw) for seed in (0, 1)]


def run(workers: int, **kw) -> dict:
    out = {}
    with open_executor(workers) as (executor, _):
        run_all(executor, run_train_job, jobs(**kw), lambda job, res: out.__setitem__(job.config.seed, res))
    return out


@pytest.fixture(scope="module")
def inline():
    return run(1)


def test_two_processes_train_the_same_seeds_as_this_process(inline):
    pooled = run(2)
    for seed in (0, 1):
        assert pooled[seed]["metrics"]["val_logloss"] == inline[seed]["metrics"]["val_logloss"]
    assert inline[0]["metrics"]["val_logloss"] != inline[1]["metrics"]["val_logloss"]  # the seed matters


def test_the_checkpoint_comes_back_as_bytes_and_loads_where_it_is_written(inline, tmp_path):
    folder = write_checkpoint(inline[0]["files"], tmp_path / "syn-0")
    loaded = load_checkpoint(folder / "model.pt")
    assert loaded.name == "syn-0" and dict(loaded.instruments).keys() >= {"SYN"}


def test_an_experiment_run_returns_metrics_only():
    out = run(1, keep_checkpoint=False)
    assert out[0]["files"] is None and out[0]["metrics"]["val_logloss"] > 0
