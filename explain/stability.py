"""Stability: the same decision explained by every seed of the shipped variant. A verdict that changes
with the training seed is a property of that seed, not of the market; the committee should know.

Seeds are the checkpoints under <model folder>/seeds/seed<N>/ (scripts/train_shipped_models.py keeps
them for hrm-default). Each seed decides the bar with its own position rule, and its H/L split and
feature attribution are computed on the same target and baseline (fewer integration points: ranks and
signs, not completeness, are compared). Reported:

The explained model is the card's chosen seed; the others are compared with it.

- decision_agreement: share of the other seeds whose book takes the same side as the explained model's;
- h_sign_agreement / l_sign_agreement: share of seeds whose A_H (A_L) has the explained model's sign;
- top_feature_rank_corr: mean Spearman correlation, over seeds, of the per-feature attribution totals
  with the explained model's, on the union of each side's top-5 features;
- word: "stable" when decision_agreement >= 0.8 and top_feature_rank_corr >= 0.5, else "seed-dependent".
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import torch

N_STEPS = 16
TOP = 5
_MODELS: dict[str, object] = {}
_GUARD = threading.Lock()


def seed_checkpoints(loaded) -> list[Path]:
    """The other seeds' checkpoints (the shipped one, the card's chosen seed, is the model explained)."""
    folder = Path(loaded.path).parent / "seeds"
    chosen = ((loaded.metrics or {}).get("seeds") or {}).get("chosen_seed")
    paths = sorted(folder.glob("seed*/model.pt")) if folder.is_dir() else []
    return [p for p in paths if p.parent.name != f"seed{chosen}"]


def _load(path: Path):
    from hrm_core.model.checkpoint import load_checkpoint

    with _GUARD:
        if str(path) not in _MODELS:
            _MODELS[str(path)] = load_checkpoint(path)
        return _MODELS[str(path)]


def _rank_corr(a: np.ndarray, b: np.ndarray) -> float:
    top = np.union1d(np.argsort(-np.abs(a))[:TOP], np.argsort(-np.abs(b))[:TOP])
    return float(pd.Series(a[top]).corr(pd.Series(b[top]), method="spearman"))


def seed_stability(loaded, x: torch.Tensor, *, symbol: str, interval: str, target: str, baseline_x: torch.Tensor,
                   side: int, h: float, l: float, per_feature: np.ndarray) -> dict:
    """Agreement of the seeds with the explained decision (module docstring); `available` False without seeds."""
    from explain.locks import model_lock
    from explain.features import feature_attribution
    from explain.modules import attribute_modules, is_hierarchical
    from hrm_core.data.features import DIRECTION_CLASSES, FEATURE_NAMES

    paths = seed_checkpoints(loaded)
    if not paths:
        return {"available": False, "seeds": 0, "note": f"no other seeds' checkpoints ship with {loaded.name}"}
    rows = []
    for path in paths:
        seed = _load(path)
        iid = seed.instrument_ids([symbol]).long().view(1)
        tid = torch.tensor([seed.timeframe_id(interval)], dtype=torch.long)
        with torch.no_grad():
            out = seed.model.infer(x, iid, tid)
        p = torch.softmax(out.policy_logits.float(), -1).double().numpy()
        seed_side = int(np.sign(seed.rule.positions(p, out.quantity.double().numpy())[0]))
        action = torch.tensor([DIRECTION_CLASSES.index("flat") + seed_side], dtype=torch.long)
        K = int(out.steps[0])
        with model_lock(seed.model):
            feats = feature_attribution(seed.model, x, iid, tid, action, segments=K, target=target,
                                        baselines={"primary": baseline_x[0].numpy()}, primary="primary",
                                        n_steps=N_STEPS, names=list(FEATURE_NAMES), rule=seed.rule,
                                        times=pd.RangeIndex(x.shape[1]))
            mod = (attribute_modules(seed.model, x, iid, tid, action, segments=K, target=target,
                                     baseline_x=baseline_x, n_steps=N_STEPS, rule=seed.rule)
                   if is_hierarchical(seed.model) else None)
        rows.append({"seed": path.parent.name, "side": seed_side, "action": DIRECTION_CLASSES[seed_side + 1],
                     "h": None if mod is None else float(mod["h"][0]), "l": None if mod is None else float(mod["l"][0]),
                     "rank_corr": _rank_corr(per_feature, feats["per_feature"].to_numpy())})
    agree = float(np.mean([r["side"] == side for r in rows]))
    corr = float(np.nanmean([r["rank_corr"] for r in rows]))
    signs = {name: (float(np.mean([np.sign(r[name]) == np.sign(ref) for r in rows if r[name] is not None]))
                    if ref is not None and np.isfinite(ref) else None)
             for name, ref in (("h", h), ("l", l))}
    word = "stable" if agree >= 0.8 and corr >= 0.5 else "seed-dependent"
    return {"available": True, "seeds": len(rows), "decision_agreement": agree, "h_sign_agreement": signs["h"],
            "l_sign_agreement": signs["l"], "top_feature_rank_corr": corr, "word": word, "per_seed": rows,
            "text": (f"{word}: {agree:.0%} of {len(rows)} other seeds take the same side, top-feature rank correlation "
                     f"{corr:+.2f}" + (f", A_H sign agrees on {signs['h']:.0%}" if signs["h"] is not None else ""))}


__all__ = ["seed_checkpoints", "seed_stability"]
