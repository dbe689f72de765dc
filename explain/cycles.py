"""How the decision formed: a probe of the heads after every H cycle, and an attribution per cycle.

Probe: infer's trace keeps the summary token of z_H after each H update; reading the policy
and size heads there shows what the model *would* decide had it stopped after that cycle.
The heads were trained on the final state only, so early readings are a probe (labelled as
such), not decisions the model made.

Per-cycle attribution: LayerIntegratedGradients on taps.h_cycle[i] (z_H after cycle i), with
the layer baseline = that state on the baseline window. Its sum is how much of
F(x) - F(x | z_H after cycle i taken from the baseline run) flows through that state; the
last cycle's sum equals F(x) - F(x') (the heads read it directly).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from captum.attr import LayerIntegratedGradients

from explain.modules import is_hierarchical, relative_delta
from explain.targets import forward_fn
from hrm_core.model.position_rule import DecisionRule
from hrm_core.data.features import DIRECTION_CLASSES

PROBE_LABEL = "probe: the heads read at z_H after this cycle (trained on the final state only)"


@torch.no_grad()
def probe(model, trace, rule: DecisionRule | None = None) -> list[dict]:
    """One row per H cycle of the first sample in `trace` (HRMTrace of a batch-1 infer): probabilities and size."""
    rows = []
    N = trace.h_cycles
    rule = rule or DecisionRule()  # the checkpoint's rule: the action the signal table would take
    for s, seg in enumerate(trace.segments):
        if not bool(seg.active[0]):
            break
        for c, z in enumerate(seg.z_H):
            heads = model.heads(z[:1])
            p = torch.softmax(heads["policy_logits"].float(), -1)[0].double().numpy()
            qty = float(heads["quantity"][0])
            side = int(np.sign(rule.positions(p[None], np.array([qty]))[0]))
            rows.append({"index": s * N + c, "segment": s + 1, "cycle": c + 1, "p_short": float(p[0]),
                         "p_flat": float(p[1]), "p_long": float(p[2]), "quantity": qty,
                         "action": DIRECTION_CLASSES[side + 1]})
    return rows


def firmed_up(rows: list[dict], action: str) -> int | None:
    """Index of the cycle from which the probe's action (by the position rule) equals the final action and stays."""
    first = None
    for r in rows:
        if r["action"] == action:
            first = r["index"] if first is None else first
        else:
            first = None
    return first


def attribute_cycles(model, x, instrument_id, timeframe_id, action, *, segments: int, target: str,
                     baseline_x: torch.Tensor, n_steps: int, rule: DecisionRule | None = None) -> list[dict]:
    """Signed attribution through z_H after each cycle i < segments * N, with its own completeness check.

    Call under explain.core.model_lock(model)."""
    f = forward_fn(model, segments, target, rule)
    args = (instrument_id, timeframe_id, action)
    taps = list(model.taps.h_cycle)[: segments * model.config.h_cycles]
    base_acts: dict[int, torch.Tensor] = {}
    hooks = [tap.register_forward_hook(lambda _m, _i, out, i=i: base_acts.__setitem__(i, out.detach()))
             for i, tap in enumerate(taps)]
    try:
        with torch.no_grad():
            f_x = float(f(x, *args)[0])
            f(baseline_x, *args)
    finally:
        for h in hooks:
            h.remove()
    out = []
    for i, tap in enumerate(taps):
        attr = LayerIntegratedGradients(f, tap).attribute(x, baselines=baseline_x, additional_forward_args=args,
                                                          n_steps=n_steps)
        total = float(attr.sum())
        swap = tap.register_forward_hook(lambda _m, _i, _o, i=i: base_acts[i])  # F with this state from the baseline
        try:
            with torch.no_grad():
                f_swap = float(f(x, *args)[0])
        finally:
            swap.remove()
        rel = relative_delta(np.array([total - (f_x - f_swap)]), np.array([f_x]), np.array([f_swap]))[0]
        out.append({"index": i, "attribution": total, "f_swapped": f_swap,
                    "completeness_delta": None if not math.isfinite(rel) else float(rel)})
    return out


def cycle_trajectory(model, trace, x, instrument_id, timeframe_id, action, *, action_name: str, segments: int,
                     target: str, baseline_x: torch.Tensor, n_steps: int, rule: DecisionRule | None = None) -> dict:
    """Probe rows joined with per-cycle attributions; "not applicable" for the flat model."""
    if not is_hierarchical(model) or trace is None:
        return {"applicable": False, "note": "not applicable: the flat transformer has no reasoning cycles",
                "steps": [], "firmed_up": None, "label": PROBE_LABEL}
    rows = probe(model, trace, rule)
    attrs = attribute_cycles(model, x, instrument_id, timeframe_id, action, segments=segments, target=target,
                             baseline_x=baseline_x, n_steps=n_steps, rule=rule)
    for r, a in zip(rows, attrs):
        r.update(attribution=a["attribution"], attribution_completeness_delta=a["completeness_delta"])
    return {"applicable": True, "note": "", "steps": rows, "firmed_up": firmed_up(rows, action_name),
            "label": PROBE_LABEL}
