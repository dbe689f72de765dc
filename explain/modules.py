"""H vs L: LayerIntegratedGradients over the two inputs of the final H update (taps.h_prev, taps.l_final).

The final update z_H <- H(z_H + z_L) is the only route from the input to the heads, so
interpolating both of its inputs together from their baseline values (the states the model
reaches on the baseline window) to their actual values decomposes F(x) - F(baseline) exactly:
sum A_H + sum A_L = F(x) - F(x') up to the integral's error (the completeness delta).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch
from captum.attr import LayerIntegratedGradients

from explain.targets import forward_fn
from hrm_core.model.position_rule import DecisionRule

MIN_DENOMINATOR = 1e-6  # |F(x) - F(x')| below this: completeness is not measurable (relative delta -> None)


def is_hierarchical(model) -> bool:
    """True for the HRM (it has the H/L taps); False for the flat baseline."""
    return hasattr(model.taps, "h_prev") and hasattr(model.taps, "l_final")


@dataclass(frozen=True)
class ModuleAttribution:
    applicable: bool
    h: float = math.nan  # signed sum of attributions to z_H entering the final H update
    l: float = math.nan  # signed sum of attributions to z_L entering it
    h_share: float = math.nan  # |A_H| / (|A_H| + |A_L|)
    l_share: float = math.nan
    f_input: float = math.nan  # F(x)
    f_baseline: float = math.nan  # F(x')
    delta: float = math.nan  # Captum's convergence delta, output units: A_H + A_L - (F(x) - F(x'))
    completeness_delta: float | None = None  # delta / |F(x) - F(x')|, None when the denominator is ~0
    note: str = ""

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def shares(h: np.ndarray, l: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(h_share, l_share) from signed sums; NaN where both are 0."""
    total = np.abs(h) + np.abs(l)
    with np.errstate(invalid="ignore", divide="ignore"):
        hs = np.where(total > 0, np.abs(h) / total, np.nan)
    return hs, 1.0 - hs


def relative_delta(delta: np.ndarray, f_x: np.ndarray, f_b: np.ndarray) -> np.ndarray:
    """delta / |F(x) - F(x')|, NaN where the denominator is below MIN_DENOMINATOR."""
    den = np.abs(f_x - f_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den >= MIN_DENOMINATOR, delta / np.maximum(den, MIN_DENOMINATOR), np.nan)


def attribute_modules(model, x: torch.Tensor, instrument_id: torch.Tensor, timeframe_id: torch.Tensor,
                      action: torch.Tensor, *, segments: int, target: str, baseline_x: torch.Tensor,
                      n_steps: int, rule: DecisionRule | None = None) -> dict[str, np.ndarray]:
    """Batched (B decisions, one segment count): signed A_H, A_L, F(x), F(x'), delta, each (B,).

    Call under explain.core.model_lock(model): Captum hooks the shared taps."""
    f = forward_fn(model, segments, target, rule)
    args = (instrument_id, timeframe_id, action)
    with warnings.catch_warnings():  # the two taps feed the same update, neither depends on the other
        warnings.filterwarnings("ignore", message="Multiple layers provided")
        lig = LayerIntegratedGradients(f, [model.taps.h_prev, model.taps.l_final])
    (a_h, a_l), delta = lig.attribute(x, baselines=baseline_x, additional_forward_args=args, n_steps=n_steps,
                                      return_convergence_delta=True)
    with torch.no_grad():
        f_x, f_b = f(x, *args), f(baseline_x, *args)
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
    hs, ls = shares(r["h"], r["l"])
    rel = relative_delta(r["delta"], r["f_input"], r["f_baseline"])
    return ModuleAttribution(
        applicable=True, h=float(r["h"][0]), l=float(r["l"][0]), h_share=float(hs[0]), l_share=float(ls[0]),
        f_input=float(r["f_input"][0]), f_baseline=float(r["f_baseline"][0]), delta=float(r["delta"][0]),
        completeness_delta=None if not np.isfinite(rel[0]) else float(rel[0]),
        note="" if np.isfinite(rel[0]) else "F(x) equals F(baseline): nothing to split, completeness not measurable")
