"""DistributedDataParallel: two gloo processes on CPU train on different shards and end with identical weights."""
import os
import socket

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp

pytestmark = pytest.mark.slow


def _bars(n: int = 700, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    idx = pd.DatetimeIndex(pd.bdate_range("2000-01-03", periods=n, tz="UTC"), name="time")
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * 1.002,
                         "low": np.minimum(open_, close) * 0.998, "close": close,
                         "volume": rng.uniform(1e6, 2e6, n)}, index=idx)


def _worker(rank: int, world: int, port: int, out_dir: str, overrides: tuple = ()) -> None:
    import torch.distributed as dist

    from hrm_core.training.train import TrainConfig, train

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        cfg = TrainConfig(preset="tiny", symbols=("AAA", "BBB"), train_start="2000-01-01", train_end="2001-06-30",
                          val_start="2001-07-01", val_end="2002-03-31", test_start="2002-04-01",
                          test_end="2002-12-31", epochs=2, batch_size=32, device="cpu", patience=5,
                          overrides=overrides)
        bars = {("AAA", "1d"): _bars(seed=1), ("BBB", "1d"): _bars(seed=2)}
        result = train(cfg, bars=bars)
        torch.save({"state": {k: v.clone() for k, v in result.model.state_dict().items()},
                    "shard": torch.tensor(result.shard_indices), "world": result.world_size,
                    "loss": torch.tensor([h["loss"] for h in result.history])},
                   os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("overrides", [(), (("act", False),)], ids=["act", "no-act"])
def test_two_gloo_ranks_train_on_disjoint_shards_and_end_with_identical_weights(tmp_path, overrides):
    """With ACT, ranks halt different rows, yet share one learning-rate schedule; without ACT the Q-head has no
    loss (unused parameters) and DDP must still step."""
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), overrides), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)

    assert r0["world"] == r1["world"] == 2
    # Different shards: the DistributedSampler gave each rank its own half of the training rows.
    s0, s1 = set(r0["shard"].tolist()), set(r1["shard"].tolist())
    assert len(s0) > 50 and len(s1) > 50
    assert len(s0 & s1) <= 1  # at most the one padding row DistributedSampler repeats for an odd count
    # Same weights after training: gradients were averaged and the optimiser steps matched.
    assert r0["state"].keys() == r1["state"].keys()
    for k in r0["state"]:
        assert torch.equal(r0["state"][k], r1["state"][k]), k
    # ...and training really moved them (a model that never stepped would also be "identical").
    from hrm_core.model.config import get_preset
    from hrm_core.data.features import FEATURE_NAMES
    from hrm_core.model.networks import build_model

    torch.manual_seed(0)
    init = build_model(get_preset("tiny", n_features=len(FEATURE_NAMES))).state_dict()
    assert not torch.equal(init["heads.policy.proj.weight"], r0["state"]["heads.policy.proj.weight"])
