"""Recompute each shipped HRM checkpoint's validation depth figures and rewrite its model card.

    .venv/bin/python scripts/depth_cards.py                 # every HRM checkpoint in models/
    .venv/bin/python scripts/depth_cards.py hrm-n1t1        # one

Checkpoints trained before the halting objectives existed have cards without the objective, the inference
mode, the log-loss at depth 1 or whether depth pays. This rebuilds each one's validation windows from its own
training config on the bundled sample (offline) and rewrites `act_depth` (hrm_core.training.train's
validation_report); the weights, the position rule and every other figure stay as they are.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from train_shipped_models import sample_bars  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    from hrm_core.model.cards import list_checkpoints
    from hrm_core.model.checkpoint import load_checkpoint, update_metrics
    from hrm_core.training.train import TrainConfig, prepare_data, validation_report

    names = set(argv if argv is not None else sys.argv[1:])
    bars = sample_bars()
    for c in list_checkpoints(ROOT / "models"):
        loaded = load_checkpoint(c.path)
        if loaded.config.arch != "hrm" or (names and loaded.name not in names):
            continue
        cfg = TrainConfig.from_dict(loaded.train_config)
        data = prepare_data(cfg, loaded.config, bars=bars)
        depth = validation_report(loaded.model, data, loaded.rule, horizon=cfg.horizon)["act_depth"]
        update_metrics(c.path, {"act_depth": depth})
        pays = depth["depth_pays"]
        print(f"{loaded.name}: {depth['objective']} / {depth['inference_mode']}, depth {depth['distribution']}, "
              f"full - depth 1 log-loss {pays['mean']:+.4f} [{pays['ci'][0]:+.4f}, {pays['ci'][1]:+.4f}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
