"""H vs L: LayerIntegratedGradients over the two inputs of the final H update (taps.h_prev, taps.l_final).

The final update z_H <- H(z_H + z_L) is the only route from the input to the heads, so
interpolating both of its inputs together from their baseline values (the states the model
reaches on the baseline window) to their actual values decomposes F(x) - F(baseline) exactly:
sum A_H + sum A_L = F(x) - F(x') up to the integral's error (the completeness delta).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from captum.attr import LayerIntegratedGradients

from explain.explanation import ModuleAttribution
from explain.targets import forward_fn
from hrm_core.model.position_rule import DecisionRule

# |F(x) - F(x')| below this: completeness is not measurable (relative delta -> None). The model runs in float32,
# so an integral's delta carries rounding of about 1e-7 whatever the number of points: below 1e-5 that rounding
# alone would exceed the 1 % TOLERANCE (measured: delta -1.9e-7 on a move of 3.4e-6, hrm-default, 2016-06-17).
MIN_DENOMINATOR = 1e-5


def is_hierarchical(model) -> bool:
    """True for the HRM (it has the H/L taps); False for the flat baseline."""
    return hasattr(model.taps, "h_prev") and hasattr(model.taps, "l_final")


LEAD_BAND = 0.1  # shares within 0.5 +- this are "mixed": no knife edge at 0.5


def signed_shares(h: np.ndarray, l: np.ndarray, f_x: np.ndarray, f_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A_H / dF, A_L / dF), dF = F(x) - F(x'); NaN where |dF| < MIN_DENOMINATOR (nothing to split)."""
    d = np.asarray(f_x, dtype=float) - np.asarray(f_b, dtype=float)
    ok = np.abs(d) >= MIN_DENOMINATOR
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, h / np.where(ok, d, 1.0), np.nan), np.where(ok, l / np.where(ok, d, 1.0), np.nan)


def lead_of(h_share: np.ndarray) -> np.ndarray:
    """"H-led" (H's share above 0.5 + LEAD_BAND), "L-led" (below 0.5 - LEAD_BAND), "mixed", "" if NaN."""
    h = np.asarray(h_share, dtype=float)
    return np.select([~np.isfinite(h), h > 0.5 + LEAD_BAND, h < 0.5 - LEAD_BAND], ["", "H-led", "L-led"], "mixed")


def relative_delta(delta: np.ndarray, f_x: np.ndarray, f_b: np.ndarray) -> np.ndarray:
    """delta / |F(x) - F(x')|, NaN where the denominator is below MIN_DENOMINATOR."""
    den = np.abs(f_x - f_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den >= MIN_DENOMINATOR, delta / np.maximum(den, MIN_DENOMINATOR), np.nan)


TOLERANCE = 0.01  # completeness target: |delta| / |F(x) - F(x')|
MAX_STEPS = 512  # refinement stops here (the CLI's --n-steps range)


def attribute_modules(model, x: torch.Tensor, instrument_id: torch.Tensor, timeframe_id: torch.Tensor,
                      action: torch.Tensor, *, segments: int, target: str, baseline_x: torch.Tensor,
                      n_steps: int, rule: DecisionRule | None = None, refine: bool = True) -> dict[str, np.ndarray]:
    """Batched (B decisions, one segment count): signed A_H, A_L, F(x), F(x'), delta, ig_steps used, each (B,).

    refine: a decision whose completeness error exceeds TOLERANCE is integrated again with 4x the points (up
    to MAX_STEPS). The pre-band position has a kink where the clip saturates; a path that crosses it needs
    more points, and only those decisions pay for them. Call under explain.core.model_lock(model)."""
    r = _integrate(model, x, instrument_id, timeframe_id, action, segments, target, baseline_x, n_steps, rule)
    r["ig_steps"] = np.full(len(x), float(n_steps))
    steps = n_steps
    while refine and steps < MAX_STEPS:
        rel = relative_delta(r["delta"], r["f_input"], r["f_baseline"])
        bad = np.flatnonzero(np.abs(np.nan_to_num(rel)) > TOLERANCE)
        if not len(bad):
            break
        steps = min(steps * 4, MAX_STEPS)
        idx = torch.from_numpy(bad)
        again = _integrate(model, x[idx], instrument_id[idx], timeframe_id[idx], action[idx], segments, target,
                           baseline_x[idx] if len(baseline_x) == len(x) else baseline_x, steps, rule)
        for key, v in again.items():
            r[key][bad] = v
        r["ig_steps"][bad] = steps
    return r


def _integrate(model, x, instrument_id, timeframe_id, action, segments, target, baseline_x, n_steps,
               rule) -> dict[str, np.ndarray]:
    f = forward_fn(model, segments, target, rule)
    args = (instrument_id, timeframe_id, action)
    with warnings.catch_warnings():  # the two taps feed the same update, neither depends on the other
        warnings.filterwarnings("ignore", message="Multiple layers provided")
        lig = LayerIntegratedGradients(f, [model.taps.h_prev, model.taps.l_final])
    (a_h, a_l), delta = lig.attribute(x, baselines=baseline_x, additional_forward_args=args, n_steps=n_steps,
                                      return_convergence_delta=True)
    with torch.no_grad():
        f_x, f_b = f(x, *args), f(baseline_x.expand_as(x) if len(baseline_x) != len(x) else baseline_x, *args)
    return {"h": a_h.flatten(1).sum(1).detach().double().numpy(), "l": a_l.flatten(1).sum(1).detach().double().numpy(),
            "f_input": f_x.double().numpy(), "f_baseline": f_b.double().numpy(),
            "delta": delta.detach().double().numpy()}


def module_attribution(model, x, instrument_id, timeframe_id, action, *, segments: int, target: str,
                       baseline_x: torch.Tensor, n_steps: int, rule: DecisionRule | None = None) -> ModuleAttribution:
    """One decision's H vs L split (B = 1), or "not applicable" for a model without H and L."""
    if not is_hierarchical(model):
        return ModuleAttribution(applicable=False, note="not applicable: the flat transformer has no H and L modules")
    r = attribute_modules(model, x, instrument_id, timeframe_id, action, segments=segments, target=target,
                          baseline_x=baseline_x, n_steps=n_steps, rule=rule)
    hs, ls = signed_shares(r["h"], r["l"], r["f_input"], r["f_baseline"])
    rel = relative_delta(r["delta"], r["f_input"], r["f_baseline"])
    return ModuleAttribution(
        applicable=True, h=float(r["h"][0]), l=float(r["l"][0]), h_share=float(hs[0]), l_share=float(ls[0]),
        lead=str(lead_of(hs)[0]), f_input=float(r["f_input"][0]), f_baseline=float(r["f_baseline"][0]),
        delta=float(r["delta"][0]), completeness_delta=None if not np.isfinite(rel[0]) else float(rel[0]),
        note="" if np.isfinite(rel[0]) else "F(x) equals F(baseline): nothing to split, completeness not measurable")
