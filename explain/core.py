"""One decision explained: find the bar, rebuild infer's exact input, run every attribution, package it.

    ex = explain_decision(loaded, bars, "2017-06-01", symbol="^GSPC", interval="1d")
    ex.summary, ex.module.h_share, ex.features["top_features"], ex.to_dict()

The decision explained is the one `infer` makes for that bar (the signal table's row): the
same window, instrument and timeframe ids (built as hrm_core.trading.signals.run_model builds them),
and attribution runs exactly the segments infer used there.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from explain.counterfactual import counterfactuals
from explain.cycles import cycle_trajectory
from explain.locks import model_lock
from explain.features import baseline_window, check_baseline, feature_attribution
from explain.explanation import Explanation, ModuleAttribution
from explain.modules import is_hierarchical, module_attribution
from explain.similar import similar_situations
from explain.stability import seed_stability
from explain.summary import summarise
from explain.targets import band_gate, check_target
from explain.words import BASELINES, DEFAULT_BASELINE, FEATURE_WORDS, offered_targets
from hrm_core.data.bars import bar_at_or_before
from hrm_core.errors import DataError, ModelError
from hrm_core.data.features import DIRECTION_CLASSES, FEATURE_NAMES, WindowDataset
from hrm_core.trading.signals import bars_hash, build_table, model_fingerprint, model_inputs

DEFAULT_N_STEPS = 32  # Gauss-Legendre points: completeness well under 1 % on the shipped models (tests/test_explain.py)

def decision_dataset(loaded, bars: pd.DataFrame, *, symbol: str, interval: str) -> WindowDataset:
    """Windows for every decidable bar, exactly as hrm_core.trading.signals.run_model builds them."""
    return model_inputs(loaded, bars, symbol=symbol, interval=interval)[0]


def locate(ds: WindowDataset, bars: pd.DataFrame, at: Any) -> int:
    """Row of `ds` for the last bar at or before `at` (hrm_core.data.bars.bar_at_or_before: a date covers its
    whole day); DataError outside the data or where the bar has no complete window."""
    pos = bar_at_or_before(bars.index, at, first=ds.times[0])
    row = int(ds.times.searchsorted(bars.index[pos], side="right")) - 1
    if ds.times[row] != bars.index[pos]:
        raise DataError(f"no decision at {bars.index[pos]:%Y-%m-%d %H:%M}: its features are incomplete "
                        f"(the nearest earlier decision is {ds.times[row]:%Y-%m-%d %H:%M})")
    return row


def _caveats(module: ModuleAttribution, features: dict, decision: dict, target: str) -> tuple[str, ...]:
    out = ["H share is a share of the two inputs of the final H update (strategic context carried in vs the "
           "last cycle's tactical computation), measured against a baseline; it is not a share of decisions, "
           "and not a causal 'percent strategic' figure.",
           "Attributions explain the model's output, not the market: a large attribution means the model relied "
           "on an input, not that the input predicts returns.",
           "Cycle readings before the last one are a probe (the heads were trained on the final state only)."]
    for name, delta in (("module", module.completeness_delta), ("feature", features["completeness_delta"])):
        if delta is not None and abs(delta) > 0.01:
            out.append(f"The {name} attribution's completeness error is {100 * abs(delta):.1f} % (> 1 %): "
                       "its detail does not fully account for the output.")
    rc = features.get("ranking_change")
    if rc and rc["top_k_overlap"] < rc["top_k"] - 1:
        out.append(f"The top-{rc['top_k']} inputs change with the baseline ({rc['top_k_overlap']} of "
                   f"{rc['top_k']} shared): the answer depends on what 'normal' means.")
    return tuple(out)


def _full_depth_action(loaded, full, time, steps: int) -> dict:
    """The action all M segments give, beside the as-run one ("long as run, flat at full depth")."""
    probs = torch.softmax(full.policy_logits.float(), -1)[0].double().numpy()
    raw = pd.DataFrame({"p_short": [probs[0]], "p_flat": [probs[1]], "p_long": [probs[2]],
                        "quantity": [float(full.quantity[0])], "value": [float(full.value[0])],
                        "steps": [float(full.steps[0])], "finite": [float(bool(full.finite[0]))],
                        "latency_ms": [np.nan]}, index=pd.DatetimeIndex([time]))
    row = build_table(raw, model_id=loaded.name, rule=loaded.rule).iloc[0]
    return {"action": str(row["action"]), "position": float(row["position"]), "segments": int(full.steps[0]),
            "as_run_segments": int(steps), "mode": loaded.config.inference_mode}


def explain_decision(loaded, bars: pd.DataFrame, at: Any, *, symbol: str, interval: str,
                     target: str | None = None, n_steps: int = DEFAULT_N_STEPS, baseline: str = DEFAULT_BASELINE,
                     dataset: WindowDataset | None = None, extras: bool = True) -> Explanation:
    """Explain the decision infer made at the last bar at or before `at` (pass the full history as `bars`).

    target: None = what decides for this checkpoint's rule (explain.targets). extras: also the
    counterfactuals, similar situations and seed stability (False: attribution only, e.g. in bulk)."""
    t0 = time.perf_counter()
    target = check_target(target, loaded.rule)
    check_baseline(baseline)
    if int(n_steps) < 2:
        raise ValueError(f"n_steps must be >= 2, got {n_steps}")
    ds = dataset if dataset is not None else decision_dataset(loaded, bars, symbol=symbol, interval=interval)
    row = locate(ds, bars, at)
    model = loaded.model
    hierarchical = is_hierarchical(model)
    x = torch.from_numpy(np.ascontiguousarray(ds.X[row: row + 1]))
    iid = loaded.instrument_ids([symbol]).long().view(1)
    tid = torch.tensor([loaded.timeframe_id(interval)], dtype=torch.long)

    out = model.infer(x, iid, tid, trace=hierarchical)
    probs = torch.softmax(out.policy_logits.float(), -1)[0].double().numpy()
    if not bool(out.finite[0]) or not np.isfinite(probs).all():
        raise ModelError(f"the model's output at {ds.times[row]:%Y-%m-%d} is not finite (the signal is forced "
                         "flat): there is no decision to explain")
    K = int(out.steps[0])
    raw = pd.DataFrame({"p_short": [probs[0]], "p_flat": [probs[1]], "p_long": [probs[2]],
                        "quantity": [float(out.quantity[0])], "value": [float(out.value[0])], "steps": [float(K)],
                        "finite": [1.0], "latency_ms": [np.nan]}, index=ds.times[row: row + 1])
    row_table = build_table(raw, model_id=loaded.name, rule=loaded.rule).iloc[0]  # the signal table's own rule
    position = float(row_table["position"])
    a = DIRECTION_CLASSES.index(row_table["action"])
    action = torch.tensor([a], dtype=torch.long)
    with model_lock(model), torch.no_grad():  # replayed through the taps (hooked by Captum elsewhere): must equal infer
        replay = model.attribution_forward(x, iid, tid, segments=K)
    decision = {"time": ds.times[row].isoformat(), "action": DIRECTION_CLASSES[a], "position": position,
                "size": abs(position), "quantity": float(out.quantity[0]), "p_short": float(probs[0]),
                "p_flat": float(probs[1]), "p_long": float(probs[2]), "steps": K,
                "value_head": {"value": float(out.value[0]), "horizon_bars": int(loaded.feature_spec.horizon),
                               "units": "forward return as a fraction (0.01 = 1 %), uncalibrated: trained as an "
                                        "auxiliary loss, never checked against realised returns"},
                "reproduction_error": float((replay.policy_logits - out.policy_logits).abs().max())}
    if hierarchical:  # what all M segments would decide: where it differs, the page says so beside the action
        decision["full_depth"] = _full_depth_action(loaded, model.infer(x, iid, tid, halt=False), ds.times[row], K)
    gate = band_gate(decision, loaded.rule)
    decision["margin"] = gate.get("margin")
    side = int(np.sign(position))
    sense = 1 if target == "action_logit" else side  # does the target rise (+1) or fall (-1) with this decision

    baselines = {name: baseline_window(name, ds.X, row) for name in BASELINES}
    base_x = torch.from_numpy(baselines[baseline])[None]
    kw = dict(segments=K, target=target, baseline_x=base_x, n_steps=int(n_steps), rule=loaded.rule)
    with model_lock(model):
        module = module_attribution(model, x, iid, tid, action, **kw)
        cycles = cycle_trajectory(model, out.trace, x, iid, tid, action, action_name=DIRECTION_CLASSES[a], **kw)
        feats = feature_attribution(model, x, iid, tid, action, segments=K, target=target, baselines=baselines,
                                    primary=baseline, n_steps=int(n_steps), names=list(FEATURE_NAMES), rule=loaded.rule,
                                    times=bars.index[ds.end_idx[row] - ds.X.shape[1] + 1: ds.end_idx[row] + 1],
                                    sense=sense)
        model_id = model_fingerprint(loaded)
        cf, similar, stability = [], {}, {}
        if extras:
            cf = counterfactuals(model, x, iid, tid, rule=loaded.rule, names=list(FEATURE_NAMES), words=FEATURE_WORDS,
                                 features=feats["top_features"][:3], observed=ds.X[:, -1, :],
                                 scaler=loaded.scaler, side=side)
            if hierarchical:
                state = out.trace.segments[K - 1].z_H[-1][0].double().numpy()
                similar = similar_situations(loaded, ds, bars, state, symbol=symbol, interval=interval,
                                             key=f"{model_id}|{symbol}|{interval}|{bars_hash(bars)}")
            stability = seed_stability(loaded, x, symbol=symbol, interval=interval, target=target, baseline_x=base_x,
                                       side=side, h=module.h, l=module.l, per_feature=feats["per_feature"].to_numpy())
    end = ds.end_idx[row]
    window = bars.iloc[end - ds.X.shape[1] + 1: end + 1][["open", "high", "low", "close", "volume"]]
    summary = summarise(decision, gate, module, cycles, feats, target=target, counterfactual=cf, stability=stability)
    return Explanation(
        model_id=model_id, model_name=loaded.name, arch=loaded.config.arch, symbol=symbol,
        interval=interval, time=ds.times[row], decision=decision, target=target, baseline=baseline,
        n_steps=int(n_steps), module=module, cycles=cycles, features=feats, summary=summary,
        caveats=_caveats(module, feats, decision, target), window=window, gate=gate, counterfactual=cf,
        similar=similar, stability=stability, offered_targets=offered_targets(loaded.rule),
        elapsed_s=time.perf_counter() - t0)

